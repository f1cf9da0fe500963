# The PSGI app of test_modes (uwsgi --plugin psgi --psgi app.pl): the same
# routes as modes_app.py. /raise dies: the psgi plugin answers 500 and, unlike
# Python and Rack, does not count an exception in uWSGI.
use strict;
use warnings;
use Time::HiRes qw(sleep time);

my $app = sub {
    my $env  = shift;
    my $path = $env->{PATH_INFO};
    die "the modes app died on purpose\n" if $path eq '/raise';
    return [404, ['Content-Type' => 'text/plain'], ["not found\n"]] if $path eq '/missing';
    if ($path eq '/hold') {
        my $release  = "$ENV{MODES_DIR}/" . ($env->{QUERY_STRING} || 'release');
        my $deadline = time + 60;
        until (-e $release) {
            return [504, ['Content-Type' => 'text/plain'], ["never released\n"]] if time > $deadline;
            sleep 0.02;
        }
    }
    my $len  = $env->{CONTENT_LENGTH} || 0;
    my $body = '';
    $env->{'psgi.input'}->read($body, $len) if $len;
    return [200, ['Content-Type' => 'text/plain'], ["hello from psgi, " . length($body) . " bytes received\n"]];
};

<?php
// The PHP app of test_modes (uwsgi --plugin php, http-socket-modifier1 = 14,
// php-docroot = this directory): / and POST / land here.
$body = file_get_contents('php://input');
echo "hello from php, " . strlen($body) . " bytes received\n";

/* Unit tests of gpx_netstat: /proc/net/netstat parsing and listen queues. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_netstat.h"

/* What Linux 6.x writes, shortened: TcpExt's names then values, IpExt's,
 * MPTcpExt's. ListenOverflows is the 5th TcpExt name and worth 4242. */
#define IPEXT_LINES                                                                                                    \
    "IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InOctets OutOctets\n"                                  \
    "IpExt: 0 0 0 0 459405241 387478062\n"
#define MPTCPEXT_LINES                                                                                                 \
    "MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX\n"                                                      \
    "MPTcpExt: 7 8 9\n"

static const char netstat_middle[] =
    "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts ListenOverflows ListenDrops TCPHPHits "
    "TCPTimeouts\n"
    "TcpExt: 1 2 3 4 4242 4300 1695256 988\n" IPEXT_LINES MPTCPEXT_LINES;

static const char netstat_start[] = "TcpExt: ListenOverflows ListenDrops TCPHPHits\n"
                                    "TcpExt: 17 20 1695256\n" IPEXT_LINES;

static const char netstat_end[] = "TcpExt: SyncookiesSent SyncookiesRecv ListenDrops ListenOverflows\n"
                                  "TcpExt: 0 0 5 18446744073709551615\n" IPEXT_LINES MPTCPEXT_LINES;

/* ListenOverflows is found wherever it stands among TcpExt's names: the
 * value is the one at the same position on the values line. */
static void
test_gpx_parse_listen_overflows_positions(void **state)
{
    uint64_t value;

    (void)state;
    value = 1;
    assert_int_equal(gpx_parse_listen_overflows(netstat_middle, &value), 0);
    assert_true(value == 4242);
    value = 1;
    assert_int_equal(gpx_parse_listen_overflows(netstat_start, &value), 0);
    assert_true(value == 17);
    value = 1;
    assert_int_equal(gpx_parse_listen_overflows(netstat_end, &value), 0);
    assert_true(value == UINT64_MAX);
}

/* The kernel's own layout: a space before each newline, and the file's last
 * line without one. */
static void
test_gpx_parse_listen_overflows_trailing_spaces(void **state)
{
    static const char text[] = "TcpExt: SyncookiesSent ListenOverflows ListenDrops \n"
                               "TcpExt: 0 31 32 \n"
                               "IpExt: InNoRoutes InTruncatedPkts\n"
                               "IpExt: 0 0";
    static const char last[] = "TcpExt: SyncookiesSent ListenOverflows\n"
                               "TcpExt: 0 33";
    uint64_t value = 0;

    (void)state;
    assert_int_equal(gpx_parse_listen_overflows(text, &value), 0);
    assert_true(value == 31);
    assert_int_equal(gpx_parse_listen_overflows(last, &value), 0);
    assert_true(value == 33);
}

/* No ListenOverflows among TcpExt's names, a
 * values line shorter than the names, or no TcpExt at all: -1. */
static void
test_gpx_parse_listen_overflows_missing(void **state)
{
    static const char *const texts[] = {
        /* Missing from TcpExt. */
        "TcpExt: SyncookiesSent SyncookiesRecv ListenDrops\n"
        "TcpExt: 1 2 3\n" IPEXT_LINES MPTCPEXT_LINES,
        /* A prefix or a longer name is not it. */
        "TcpExt: ListenOverflow ListenOverflowsX ListenDrops\n"
        "TcpExt: 1 2 3\n" IPEXT_LINES,
        /* Values line shorter than the names. */
        "TcpExt: SyncookiesSent SyncookiesRecv EmbryonicRsts ListenOverflows\n"
        "TcpExt: 1 2 3\n" IPEXT_LINES,
        "TcpExt: SyncookiesSent ListenOverflows\n"
        "TcpExt: 1\n" IPEXT_LINES,
        "TcpExt: ListenOverflows\n"
        "TcpExt:\n" IPEXT_LINES,
        "TcpExt: SyncookiesSent ListenOverflows\n"
        "TcpExt: 1",
        "TcpExt: SyncookiesSent ListenOverflows \n"
        "TcpExt: 1 \n" IPEXT_LINES,
        /* A value that is not a number. */
        "TcpExt: SyncookiesSent ListenOverflows\n"
        "TcpExt: 1 x\n" IPEXT_LINES,
        /* A names line and no values line. */
        "TcpExt: SyncookiesSent ListenOverflows\n" IPEXT_LINES,
        /* No TcpExt. */
        IPEXT_LINES,
        IPEXT_LINES MPTCPEXT_LINES,
        "",
        "Ip: Forwarding DefaultTTL\nIp: 1 64\n",
    };
    unsigned i;

    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        uint64_t value = 0;

        if (gpx_parse_listen_overflows(texts[i], &value) != -1) {
            print_error("text %u parsed (%llu):\n%s\n", i, (unsigned long long)value, texts[i]);
            fail();
        }
    }
}

/* This host's /proc/net/netstat reads. */
static void
test_gpx_listen_overflows_real_file(void **state)
{
    uint64_t value = UINT64_MAX, again = 0;

    (void)state;
    assert_int_equal(gpx_listen_overflows(&value), 0);
    assert_int_equal(gpx_listen_overflows(&again), 0);
    /* A counter: it never goes back. */
    assert_true(again >= value);
}

/* A TCP socket on 127.0.0.1, an ephemeral port, listening with backlog. */
static int
tcp_listener(int backlog, struct sockaddr_in *addr)
{
    socklen_t len = sizeof(*addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr->sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

static int
tcp_connect(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)), 0);
    return fd;
}

/* A listening socket's accept queue: empty with its backlog as the limit,
 * then one entry per connection not yet accepted, one less per accept. */
static void
test_gpx_tcp_listen_queue_counts(void **state)
{
    struct sockaddr_in addr;
    uint64_t queued = 99, limit = 99;
    int lfd = tcp_listener(16, &addr), clients[3], accepted;
    unsigned i;

    (void)state;
    assert_int_equal(gpx_tcp_listen_queue(lfd, &queued, &limit), 0);
    assert_true(queued == 0);
    assert_true(limit == 16);

    for (i = 0; i < 3; i++) {
        clients[i] = tcp_connect(&addr);
    }
    assert_int_equal(gpx_tcp_listen_queue(lfd, &queued, &limit), 0);
    assert_true(queued == 3);
    assert_true(limit == 16);

    accepted = accept(lfd, NULL, NULL);
    assert_true(accepted >= 0);
    assert_int_equal(gpx_tcp_listen_queue(lfd, &queued, &limit), 0);
    assert_true(queued == 2);
    assert_true(limit == 16);

    close(accepted);
    for (i = 0; i < 3; i++) {
        close(clients[i]);
    }
    close(lfd);
}

/* Not a TCP listener: a UNIX socket (listening or not), a connected TCP
 * socket on either end, a TCP socket never bound, a file, a closed fd. All
 * -1, the outputs untouched. */
static void
test_gpx_tcp_listen_queue_refuses_others(void **state)
{
    struct sockaddr_in addr;
    struct sockaddr_un un;
    char dir[] = "/tmp/gpx_netstat_test_XXXXXX";
    uint64_t queued = 99, limit = 99;
    int lfd = tcp_listener(16, &addr), client, server, ufd, plain, devnull;

    (void)state;
    client = tcp_connect(&addr);
    server = accept(lfd, NULL, NULL);
    assert_true(server >= 0);
    assert_int_equal(gpx_tcp_listen_queue(client, &queued, &limit), -1);
    assert_int_equal(gpx_tcp_listen_queue(server, &queued, &limit), -1);

    plain = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(plain >= 0);
    assert_int_equal(gpx_tcp_listen_queue(plain, &queued, &limit), -1);

    assert_non_null(mkdtemp(dir));
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s/s", dir);
    ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(ufd >= 0);
    assert_int_equal(gpx_tcp_listen_queue(ufd, &queued, &limit), -1);
    assert_int_equal(bind(ufd, (struct sockaddr *)&un, sizeof(un)), 0);
    assert_int_equal(listen(ufd, 16), 0);
    assert_int_equal(gpx_tcp_listen_queue(ufd, &queued, &limit), -1);

    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(devnull >= 0);
    assert_int_equal(gpx_tcp_listen_queue(devnull, &queued, &limit), -1);
    close(devnull);
    assert_int_equal(gpx_tcp_listen_queue(devnull, &queued, &limit), -1);
    assert_true(queued == 99 && limit == 99);

    close(ufd);
    assert_int_equal(unlink(un.sun_path), 0);
    assert_int_equal(rmdir(dir), 0);
    close(plain);
    close(server);
    close(client);
    close(lfd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_parse_listen_overflows_positions),
        cmocka_unit_test(test_gpx_parse_listen_overflows_trailing_spaces),
        cmocka_unit_test(test_gpx_parse_listen_overflows_missing),
        cmocka_unit_test(test_gpx_listen_overflows_real_file),
        cmocka_unit_test(test_gpx_tcp_listen_queue_counts),
        cmocka_unit_test(test_gpx_tcp_listen_queue_refuses_others),
    };

    return cmocka_run_group_tests_name("gpx_netstat", tests, NULL, NULL);
}

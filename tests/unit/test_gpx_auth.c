/* Unit tests of gpx_auth: the htpasswd file and the credentials check. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpx_auth.h"

/* Written by `htpasswd -nbB -C 4`: prom/secret and alice/p@ss:word. */
#define PROM_LINE "prom:$2y$04$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuqW"
#define ALICE_LINE "alice:$2y$04$7AucMQsFYUhNKbw/Q3fKL.2ej45bVqFIbfBWSslMY0Uj0IkNJQ4fO"

static int
parse(struct gpx_auth *auth, const char *text, char *why, size_t whylen)
{
    return gpx_auth_parse(auth, text, strlen(text), why, whylen);
}

/* Right credentials pass, once with bcrypt and then from the cache; wrong
 * password, unknown user and missing credentials fail, each after a bcrypt. */
static void
test_gpx_auth_check(void **state)
{
    struct gpx_auth auth;
    char why[256];

    (void)state;
    assert_int_equal(parse(&auth, "# scrapers\n" PROM_LINE "\r\n\n" ALICE_LINE, why, sizeof(why)), 0);
    assert_int_equal(auth.count, 2);
    assert_int_equal(gpx_auth_check(&auth, "prom", "secret"), 1);
    assert_int_equal(auth.bcrypt_runs, 1);
    assert_int_equal(gpx_auth_check(&auth, "prom", "secret"), 1);
    assert_int_equal(auth.bcrypt_runs, 1);
    assert_int_equal(gpx_auth_check(&auth, "alice", "p@ss:word"), 1);
    assert_int_equal(auth.bcrypt_runs, 2);
    assert_int_equal(gpx_auth_check(&auth, "prom", "Secret"), 0);
    assert_int_equal(auth.bcrypt_runs, 3);
    assert_int_equal(gpx_auth_check(&auth, "prom", "secretx"), 0);
    assert_int_equal(gpx_auth_check(&auth, "alice", "secret"), 0);
    assert_int_equal(gpx_auth_check(&auth, "bob", "secret"), 0);
    assert_int_equal(auth.bcrypt_runs, 6);
    assert_int_equal(gpx_auth_check(&auth, "pro", "secret"), 0);
    assert_int_equal(gpx_auth_check(&auth, "prom\n", "secret"), 0);
    assert_int_equal(gpx_auth_check(&auth, "", ""), 0);
    assert_int_equal(gpx_auth_check(&auth, NULL, NULL), 0);
    assert_int_equal(gpx_auth_check(&auth, "prom", NULL), 0);
    /* the cached pair still passes, a near one does not */
    assert_int_equal(gpx_auth_check(&auth, "prom", "secret"), 1);
    assert_int_equal(gpx_auth_check(&auth, "promsecret", ""), 0);
    gpx_auth_free(&auth);
    assert_int_equal(gpx_auth_check(&auth, "prom", "secret"), 0);
    gpx_auth_free(&auth);
}

static void
assert_refused(const char *text, const char *reason)
{
    struct gpx_auth auth;
    char why[256];

    assert_int_equal(parse(&auth, text, why, sizeof(why)), -1);
    if (strstr(why, reason) == NULL) {
        print_error("\"%s\" does not say \"%s\"\n", why, reason);
        fail();
    }
    assert_int_equal(auth.count, 0);
    assert_null(auth.users);
    gpx_auth_free(&auth);
}

/* Anything but bcrypt is refused with the line and the kind of hash, and
 * never with the hash itself. */
static void
test_gpx_auth_parse_refuses(void **state)
{
    (void)state;
    assert_refused("prom:secret", "line 1: not a hash (plain text or crypt DES)");
    assert_refused(PROM_LINE "\nbob:$apr1$abc$defghijklmnopqrstuvwx.", "line 2: an Apache MD5 hash (htpasswd -m)");
    assert_refused("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "line 1: a SHA-1 hash (htpasswd -s)");
    assert_refused("bob:$6$salt$hash", "line 1: a hash of another scheme");
    assert_refused("bob:$2y$03$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuqW",
                   "line 1: a malformed bcrypt hash");
    assert_refused("bob:$2y$04$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuq", "a malformed bcrypt hash");
    assert_refused("bob:$2x$04$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuqW", "a malformed bcrypt hash");
    assert_refused("bob:$2y$04$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuq!", "a malformed bcrypt hash");
    assert_refused(PROM_LINE "\n" PROM_LINE, "line 2: user \"prom\" appears twice");
    assert_refused("just a line", "line 1: expected user:hash");
    assert_refused(":$2y$04$t20dlTwU6LwUI16EhKfHFuXvIpcKyoYxb6u24dMj3GM.kHLzFQuqW", "line 1: expected user:hash");
    assert_refused("", "no user:hash line");
    assert_refused("# only a comment\n\n", "no user:hash line");
}

/* gpx_auth_load reads a file and checks that libcrypt computes its hashes. */
static void
test_gpx_auth_load(void **state)
{
    char path[] = "/tmp/gpx_auth_test_XXXXXX";
    struct gpx_auth auth;
    char why[256];
    FILE *f;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(PROM_LINE "\n", f);
    fclose(f);
    assert_int_equal(gpx_auth_load(&auth, path, why, sizeof(why)), 0);
    assert_int_equal(gpx_auth_check(&auth, "prom", "secret"), 1);
    gpx_auth_free(&auth);
    unlink(path);
    assert_int_equal(gpx_auth_load(&auth, path, why, sizeof(why)), -1);
    assert_string_equal(why, "cannot open it: No such file or directory");
    gpx_auth_free(&auth);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_auth_check),
        cmocka_unit_test(test_gpx_auth_parse_refuses),
        cmocka_unit_test(test_gpx_auth_load),
    };

    return cmocka_run_group_tests_name("gpx_auth", tests, NULL, NULL);
}

/* Unit tests of gpx_tls_none.c and gpx_auth_none.c, the stand-ins of a
 * build without GnuTLS or libcrypt: linked with the rest of src/ and
 * without either library, they turn TLS and basic auth down and accept
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_auth.h"
#include "gpx_config.h"
#include "gpx_tls.h"

static void
test_tls_without_certificate_is_plain_http(void **state)
{
    static struct gpx_config cfg;
    struct gpx_tls tls;
    char err[256] = "";

    (void)state;
    memset(&tls, 0xff, sizeof(tls));
    assert_int_equal(gpx_tls_load(&tls, &cfg, err, sizeof(err)), 0);
    assert_null(tls.cert_pem);
    assert_null(tls.key_pem);
    assert_null(tls.client_ca_pem);
    assert_string_equal(err, "");
    gpx_tls_free(&tls);
}

static void
test_tls_certificate_refused(void **state)
{
    static struct gpx_config cfg;
    struct gpx_tls tls;
    char err[256] = "";

    (void)state;
    strcpy(cfg.ssl_certfile, "/etc/gpx/metrics.pem");
    strcpy(cfg.ssl_keyfile, "/etc/gpx/metrics.key");
    assert_int_equal(gpx_tls_load(&tls, &cfg, err, sizeof(err)), -1);
    assert_null(tls.cert_pem);
    assert_string_equal(err, "gpx: gpx-ssl-certfile needs TLS, which this gpx was built without (no GnuTLS)");
    assert_int_equal(gpx_tls_peer_check(&tls, NULL), GPX_TLS_PEER_NONE);
    assert_null(gpx_tls_retrieve_function(NULL, NULL));
    gpx_tls_free(&tls);
}

static void
test_auth_refused_and_accepts_nothing(void **state)
{
    static const char line[] = "prom:$2y$05$abcdefghijklmnopqrstuuKqS9r2E0n8zQ1oG6m1Hc7o5bGgL0F6y\n";
    struct gpx_auth auth;
    char why[256] = "";

    (void)state;
    assert_int_equal(gpx_auth_parse(&auth, line, sizeof(line) - 1, why, sizeof(why)), -1);
    assert_int_equal(auth.count, 0);
    assert_null(auth.users);
    assert_string_equal(why, "this gpx was built without basic auth (no libcrypt or no GnuTLS)");
    why[0] = '\0';
    assert_int_equal(gpx_auth_load(&auth, "/etc/gpx/scrapers.htpasswd", why, sizeof(why)), -1);
    assert_string_equal(why, "this gpx was built without basic auth (no libcrypt or no GnuTLS)");
    assert_int_equal(gpx_auth_check(&auth, "prom", "s3cret"), 0);
    gpx_auth_free(&auth);
    gpx_auth_free(&auth);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_without_certificate_is_plain_http),
        cmocka_unit_test(test_tls_certificate_refused),
        cmocka_unit_test(test_auth_refused_and_accepts_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

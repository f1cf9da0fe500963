/* Unit tests of gpx_negotiate: the format and the compression chosen for
 * the Accept and Accept-Encoding headers that real scrapers send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpx_negotiate.h"

#define OM GPX_FORMAT_OPENMETRICS
#define TEXT GPX_FORMAT_TEXT

/* What Prometheus, its agents and compatible scrapers send by default. */
static void
test_gpx_negotiate_format_scrapers(void **state)
{
    (void)state;
    /* Prometheus 2.x up to 2.48 */
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;version=1.0.0,application/"
                                          "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;"
                                          "q=0.1"),
                     OM);
    /* Prometheus 2.49+ and Grafana Agent / Alloy (scrape_protocols) */
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;version=1.0.0;q=0.5,application/"
                                          "openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;"
                                          "q=0.2"),
                     OM);
    /* Prometheus 2.x with native histograms: protobuf first, which gpx serves */
    assert_int_equal(gpx_negotiate_format("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                                          "encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,"
                                          "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;"
                                          "q=0.3,*/*;q=0.2"),
                     GPX_FORMAT_PROTOBUF);
    /* Prometheus 3.x, escaping parameters included */
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                                          "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;"
                                          "escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
                     OM);
    /* Prometheus 3.x told to prefer the text format */
    assert_int_equal(gpx_negotiate_format("text/plain;version=0.0.4;q=0.5,application/openmetrics-text;"
                                          "version=1.0.0;q=0.4,*/*;q=0.1"),
                     TEXT);
    /* VictoriaMetrics' vmagent */
    assert_int_equal(gpx_negotiate_format("text/plain;version=0.0.4;q=1,*/*;q=0.1"), TEXT);
    /* curl, wget, a browser, and no header */
    assert_int_equal(gpx_negotiate_format("*/*"), TEXT);
    assert_int_equal(gpx_negotiate_format("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), TEXT);
    assert_int_equal(gpx_negotiate_format(NULL), TEXT);
    assert_int_equal(gpx_negotiate_format(""), TEXT);
}

/* Versions, weights, spaces, case and quoting. */
static void
test_gpx_negotiate_format_details(void **state)
{
    (void)state;
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text"), OM);
    assert_int_equal(gpx_negotiate_format("Application/OpenMetrics-Text; Version=\"1.0.0\""), OM);
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;version=0.0.1"), TEXT);
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;version=2.0.0"), TEXT);
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;q=0"), TEXT);
    /* equal weights: OpenMetrics */
    assert_int_equal(gpx_negotiate_format("text/plain;q=0.5, application/openmetrics-text;q=0.5"), OM);
    assert_int_equal(gpx_negotiate_format("text/plain;q=0.501, application/openmetrics-text;q=0.5"), TEXT);
    /* the most specific range decides text's weight */
    assert_int_equal(gpx_negotiate_format("text/plain;version=0.0.4;q=0.1,*/*,application/openmetrics-text;q=0.2"), OM);
    assert_int_equal(gpx_negotiate_format("text/*;q=0.9,application/openmetrics-text;q=0.8"), TEXT);
    /* a wildcard alone never picks OpenMetrics */
    assert_int_equal(gpx_negotiate_format("application/*"), TEXT);
    /* a broken weight drops its element only */
    assert_int_equal(gpx_negotiate_format("text/plain;q=2,application/openmetrics-text;q=0.3"), OM);
    assert_int_equal(gpx_negotiate_format("application/openmetrics-text;q=abc"), TEXT);
    /* a comma inside quotes does not split elements */
    assert_int_equal(gpx_negotiate_format("text/plain;x=\"a,application/openmetrics-text\""), TEXT);
    assert_int_equal(gpx_negotiate_format(",,; ;=,application/openmetrics-text ; version = 1.0.0 ,"), OM);
}

static void
test_gpx_negotiate_qvalue(void **state)
{
    (void)state;
    assert_int_equal(gpx_negotiate_qvalue("1", 1), 1000);
    assert_int_equal(gpx_negotiate_qvalue("1.000", 5), 1000);
    assert_int_equal(gpx_negotiate_qvalue("0", 1), 0);
    assert_int_equal(gpx_negotiate_qvalue("0.5", 3), 500);
    assert_int_equal(gpx_negotiate_qvalue("0.05", 4), 50);
    assert_int_equal(gpx_negotiate_qvalue("0.125", 5), 125);
    assert_int_equal(gpx_negotiate_qvalue("0.", 2), 0);
    assert_int_equal(gpx_negotiate_qvalue("1.001", 5), -1);
    assert_int_equal(gpx_negotiate_qvalue("0.1234", 6), -1);
    assert_int_equal(gpx_negotiate_qvalue("2", 1), -1);
    assert_int_equal(gpx_negotiate_qvalue(".5", 2), -1);
    assert_int_equal(gpx_negotiate_qvalue("", 0), -1);
    assert_int_equal(gpx_negotiate_qvalue("0x5", 3), -1);
}

static void
test_gpx_negotiate_gzip(void **state)
{
    (void)state;
    /* Prometheus (Go's net/http), curl --compressed, requests, browsers */
    assert_int_equal(gpx_negotiate_gzip("gzip"), 1);
    assert_int_equal(gpx_negotiate_gzip("deflate, gzip"), 1);
    assert_int_equal(gpx_negotiate_gzip("gzip, deflate"), 1);
    assert_int_equal(gpx_negotiate_gzip("gzip, deflate, br, zstd"), 1);
    assert_int_equal(gpx_negotiate_gzip("GZIP;q=0.5"), 1);
    assert_int_equal(gpx_negotiate_gzip("x-gzip"), 1);
    /* refused or not named */
    assert_int_equal(gpx_negotiate_gzip(NULL), 0);
    assert_int_equal(gpx_negotiate_gzip(""), 0);
    assert_int_equal(gpx_negotiate_gzip("identity"), 0);
    assert_int_equal(gpx_negotiate_gzip("gzip;q=0"), 0);
    assert_int_equal(gpx_negotiate_gzip("gzip;q=0.000, deflate"), 0);
    assert_int_equal(gpx_negotiate_gzip("br"), 0);
    /* "*" covers gzip only when gzip is not named */
    assert_int_equal(gpx_negotiate_gzip("*"), 1);
    assert_int_equal(gpx_negotiate_gzip("*;q=0"), 0);
    assert_int_equal(gpx_negotiate_gzip("gzip;q=0, *"), 0);
    assert_int_equal(gpx_negotiate_gzip("*;q=0, gzip"), 1);
    assert_int_equal(gpx_negotiate_gzip("gzip;q=1.5"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpx_negotiate_format_scrapers),
        cmocka_unit_test(test_gpx_negotiate_format_details),
        cmocka_unit_test(test_gpx_negotiate_qvalue),
        cmocka_unit_test(test_gpx_negotiate_gzip),
    };

    return cmocka_run_group_tests_name("gpx_negotiate", tests, NULL, NULL);
}

/* gpx_sentinel.c - the Sentinels' list and the master's address (see gpx_sentinel.h). */
#define _GNU_SOURCE
#include "gpx_sentinel.h"

#include <ctype.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "gpx_deadline.h"
#include "gpx_log.h"

/* One entry, from `start` for `len` bytes, spaces around it trimmed. */
static int
parse_entry(const char *start, size_t len, struct gpx_sentinel_addr *out, char *err, size_t errlen)
{
    const char *end = start + len, *colon, *host = start;
    size_t host_len;
    long port = 0;
    const char *p;

    while (start < end && isspace((unsigned char)*start)) {
        start++;
    }
    while (end > start && isspace((unsigned char)end[-1])) {
        end--;
    }
    host = start;
    colon = NULL;
    for (p = end; p > start; p--) {
        if (p[-1] == ':') {
            colon = p - 1;
            break;
        }
    }
    if (colon == NULL || colon == start || colon + 1 == end || end - colon - 1 > 5) {
        gpx_set_error(err, errlen, "\"%.*s\" is not host:port", (int)(end - start), start);
        return -1;
    }
    for (p = colon + 1; p < end; p++) {
        if (!isdigit((unsigned char)*p)) {
            gpx_set_error(err, errlen, "\"%.*s\" is not host:port", (int)(end - start), start);
            return -1;
        }
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535) {
        gpx_set_error(err, errlen, "\"%.*s\": the port is not from 1 to 65535", (int)(end - start), start);
        return -1;
    }
    host_len = (size_t)(colon - host);
    if (host[0] == '[') {
        if (host_len < 3 || host[host_len - 1] != ']') {
            gpx_set_error(err, errlen, "\"%.*s\" is not [address]:port", (int)(end - start), start);
            return -1;
        }
        host++;
        host_len -= 2;
    } else if (memchr(host, ':', host_len) != NULL) {
        gpx_set_error(err, errlen, "\"%.*s\": an IPv6 address goes in brackets, [address]:port", (int)(end - start),
                      start);
        return -1;
    }
    for (p = host; p < host + host_len; p++) {
        if (isspace((unsigned char)*p) || *p == '/' || *p == '[' || *p == ']') {
            gpx_set_error(err, errlen, "\"%.*s\" is not host:port", (int)(end - start), start);
            return -1;
        }
    }
    if (host_len >= sizeof(out->host)) {
        gpx_set_error(err, errlen, "\"%.*s\": the host name is too long", (int)(end - start), start);
        return -1;
    }
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    out->port = (int)port;
    return 0;
}

int
gpx_sentinel_parse(const char *list, struct gpx_sentinel_addr *out, size_t max, char *err, size_t errlen)
{
    const char *p = list, *comma;
    size_t n = 0;

    while (*p != '\0' && isspace((unsigned char)*p)) {
        p++;
    }
    if (*p == '\0') {
        return 0;
    }
    for (;;) {
        comma = strchr(p, ',');
        if (n == max) {
            gpx_set_error(err, errlen, "more than %zu Sentinels", max);
            return -1;
        }
        if (parse_entry(p, comma != NULL ? (size_t)(comma - p) : strlen(p), &out[n], err, errlen) != 0) {
            return -1;
        }
        n++;
        if (comma == NULL) {
            return (int)n;
        }
        p = comma + 1;
    }
}

/* Asks one Sentinel. Returns 0 with the address, or -1 with why in err. */
static int
ask(const struct gpx_sentinel_addr *s, const char *master, const char *password, long ms, struct gpx_sentinel_addr *out,
    char *err, size_t errlen)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    redisReply *r = NULL;
    int rc = -1;

    if (c == NULL || c->err) {
        gpx_set_error(err, errlen, "%s", c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    if (password[0] != '\0') {
        r = redisCommand(c, "AUTH %s", password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            gpx_set_error(err, errlen, "AUTH: %s", r != NULL ? r->str : c->errstr);
            goto done;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", master);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        gpx_set_error(err, errlen, "%s", r != NULL ? r->str : c->errstr);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[1]->type != REDIS_REPLY_STRING) {
        gpx_set_error(err, errlen, "knows no master named \"%s\"", master);
    } else if (r->element[0]->len >= sizeof(out->host) || atoi(r->element[1]->str) < 1 ||
               atoi(r->element[1]->str) > 65535) {
        gpx_set_error(err, errlen, "answered an address gpx cannot use");
    } else {
        snprintf(out->host, sizeof(out->host), "%s", r->element[0]->str);
        out->port = atoi(r->element[1]->str);
        rc = 0;
    }
done:
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

int
gpx_sentinel_master(const char *list, const char *master, const char *password, const struct timespec *deadline,
                    unsigned per_sentinel_ms, struct gpx_sentinel_addr *out, char *err, size_t errlen)
{
    struct gpx_sentinel_addr sentinels[GPX_SENTINELS_MAX];
    char why[256];
    size_t used = 0;
    long ms;
    int i, n = gpx_sentinel_parse(list, sentinels, GPX_SENTINELS_MAX, why, sizeof(why));

    if (n <= 0) {
        gpx_set_error(err, errlen, "no Sentinel to ask%s%s", n < 0 ? ": " : "", n < 0 ? why : "");
        return -1;
    }
    if (errlen > 0) {
        err[0] = '\0';
    }
    for (i = 0; i < n; i++) {
        ms = gpx_deadline_left_ms(deadline);
        if (ms == 0) {
            gpx_set_error(why, sizeof(why), "timed out");
        } else if (ask(&sentinels[i], master, password, ms < (long)per_sentinel_ms ? ms : (long)per_sentinel_ms, out,
                       why, sizeof(why)) == 0) {
            return 0;
        }
        if (used < errlen) {
            int w = snprintf(err + used, errlen - used, "%sSentinel %s:%d: %s", i > 0 ? "; " : "", sentinels[i].host,
                             sentinels[i].port, why);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return -1;
}

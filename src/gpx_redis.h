/* gpx_redis.h - Redis storage: the master publishes absolute totals.
 *
 * Workers never talk to Redis. A thread of the master (all signals blocked)
 * connects with timeouts, first reads the instance's stored totals and hands
 * them to `restore` (so that counters continue across restarts), then every
 * interval writes one snapshot in one pipeline:
 *
 *   SET   <prefix>:gpx:instance:<name>  <snapshot>  EX <ttl>
 *   ZADD  <prefix>:gpx:instances  <now>  <name>
 *   ZREMRANGEBYSCORE <prefix>:gpx:instances -inf <now - ttl>
 *
 * With app_snapshot set, the pipeline also SETs <prefix>:gpx:app:<name>
 * (same expiry), read back at start beside the snapshot.
 *
 * With ttl_seconds 0 nothing expires: SET without EX, and no trim.
 *
 * Absolute values heal an outage or a Redis that lost its data at the next
 * publish. Through Sentinel, a failed command (a dead master, a replica's
 * READONLY) drops the connection; the next cycle asks the Sentinels again
 * and publishes the whole totals to the master they name, so a failover
 * loses nothing the new master did not replicate: the next publish writes it. Nothing is published before the stored
 * totals were read: that would overwrite larger stored values with smaller ones.
 *
 * gpx's keys hold what gpx wrote there, or nothing. A key of another type
 * (written by something else) would fail every command on it for ever, so
 * it is repaired: the index is deleted and rebuilt by the next publishes,
 * an instance's snapshot of the wrong type is read as none and replaced.
 * Each repair is logged once.
 */
#ifndef GPX_REDIS_H
#define GPX_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "gpx_buf.h"
#include "gpx_log.h"

struct gpx_redis_config {
    const char *host;     /* host name, address, or a Unix socket path (starts with '/') */
    int port;             /* TCP port */
    int db;               /* SELECT'ed when not 0 */
    const char *password; /* AUTH'ed when not empty */
    /* Sentinel: when `sentinels` ("host:port,host:port") is not empty, host
     * and port are not used: each connection first asks the Sentinels where
     * the master named `sentinel_master` is (gpx_sentinel.h), and checks
     * with ROLE that it is a master. `sentinel_password`: AUTH'ed with each
     * Sentinel when not empty. */
    const char *sentinels;
    const char *sentinel_master;
    const char *sentinel_password;
    const char *prefix;        /* key prefix, e.g. "gunicorn" */
    const char *instance;      /* this server's name */
    unsigned interval_seconds; /* between publishes */
    unsigned ttl_seconds;      /* keys of an instance that stops publishing expire after this; 0: never */
    unsigned timeout_ms;       /* the publisher's connect and command timeout */
    unsigned fleet_timeout_ms; /* a whole fleet read, connecting included */
    int start_fresh;           /* remove the stored totals instead of restoring them */
    int verbose;               /* log every publish */
    /* Optional: a second blob published and restored beside the snapshot,
     * under <prefix>:gpx:app:<instance> (the app's own metrics). */
    int (*app_snapshot)(void *ctx, struct gpx_buf *out);
    int (*app_restore)(void *ctx, const void *blob, size_t len);
    /* Optional: the fleet reader's log (a repaired key). Any thread. */
    gpx_log_fn fleet_log;
};

/* Storage operations counted when they fail. */
enum gpx_redis_op { GPX_REDIS_CONNECT, GPX_REDIS_RESTORE, GPX_REDIS_PUBLISH, GPX_REDIS_FLEET, GPX_REDIS_OPS };

/* Health the renderer reads (any thread). */
struct gpx_redis_status {
    int up;                         /* 1 after a successful command, 0 after a failure */
    int restored;                   /* the stored totals were read */
    uint64_t errors[GPX_REDIS_OPS]; /* failures by operation */
    uint64_t publishes;             /* successful publishes */
};

/* Appends the current absolute totals as a snapshot blob. Returns 0 or -1. */
typedef int (*gpx_redis_snapshot_fn)(void *ctx, struct gpx_buf *out);

/* Receives the stored totals (a blob, maybe of another layout: check it).
 * Returns 0 when taken, -1 when refused (the blob is then kept in Redis,
 * and nothing is published over it). */
typedef int (*gpx_redis_restore_fn)(void *ctx, const void *blob, size_t len);

struct gpx_redis_publisher;

/* The operations' labels, by enum gpx_redis_op: "connect", "restore",
 * "publish", "fleet"; and one operation's ("unknown" out of range). */
extern const char *const gpx_redis_op_labels[GPX_REDIS_OPS];
const char *gpx_redis_op_label(enum gpx_redis_op op);

/* Starts the publisher thread. Strings in cfg are copied. `status` is the
 * caller's (shared memory, so that workers can read it too) and is written
 * with atomic stores. Returns NULL if the thread cannot start. */
struct gpx_redis_publisher *gpx_redis_start(const struct gpx_redis_config *cfg, struct gpx_redis_status *status,
                                            gpx_redis_snapshot_fn snapshot, gpx_redis_restore_fn restore, void *ctx,
                                            gpx_log_fn log);

/* Copies a status written by a publisher (any thread or process). */
void gpx_redis_status_read(const struct gpx_redis_status *status, struct gpx_redis_status *out);

/* Stops the thread; when `final` and the stored totals were read, publishes
 * once more (bounded by the timeout) so that nothing counted is lost at exit
 * or reload. Returns 0 when that last publish succeeded, else -1 (what was
 * counted since the last successful publish is lost). Safe with NULL. */
int gpx_redis_stop(struct gpx_redis_publisher *pub, int final);

/* Reads every instance's snapshot that published within the TTL, for the
 * fleet view: calls `each` with the instance's name and blob. Opens its own
 * short connection, and gives up when the whole read has not finished
 * within fleet_timeout_ms. Returns the number of instances, or -1 (counted
 * as a "fleet" error in status when not NULL). */
typedef void (*gpx_redis_each_fn)(void *ctx, const char *instance, const void *blob, size_t len);
int gpx_redis_fleet(const struct gpx_redis_config *cfg, struct gpx_redis_status *status, gpx_redis_each_fn each,
                    void *ctx);

#endif

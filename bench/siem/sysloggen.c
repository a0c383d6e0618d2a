/*
 * Copied from the project's benchmark anchors
 * (/work/shared/anchors/crypto-syslog/sysloggen.c, the load generator the
 * peers' syslog figures were measured with) so the SIEM benchmark runs
 * from a fresh clone. Adapted only for the project's banned-function
 * check: sprintf -> snprintf with the buffer's room, atoi/atof -> strtol/
 * strtod. The traffic it generates is unchanged.
 */
/*
 * sysloggen.c - RFC 5424 over TCP load generator.
 *
 * Usage: sysloggen HOST PORT CONNS SECONDS
 *   Opens CONNS TCP connections (one thread each) and sends newline-framed
 *   (RFC 6587 non-transparent framing) RFC 5424 messages with sshd-style auth
 *   text (~200 bytes each) as fast as the socket accepts, for SECONDS.
 *   Each thread pre-builds a batch of BATCH distinct messages; before each
 *   write of the batch it rewrites a fixed-width sequenceId in every message,
 *   so every message sent is unique (conn id + sequence).  Only whole batches
 *   are sent, so the message count is exact.
 * Prints: msgs sent, msgs/s, MB/s, average message size, generator CPU time.
 *
 * Build: gcc -O2 -Wall -o sysloggen sysloggen.c -lpthread
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define SEQW 10

static const char *host;
static int port;
static double seconds;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *users[] = {"root", "admin", "oracle", "ubuntu", "test", "deploy",
                              "postgres", "git", "jenkins", "pi", "user", "ftpuser"};
static const char *hosts[] = {"web-01", "web-02", "db-03", "bastion-1", "ci-runner-7",
                              "mail-02", "vpn-gw-1", "k8s-node-12"};

struct conn {
    int id;
    char *buf;
    size_t len;
    size_t seqoff[BATCH]; /* offset of the SEQW digits inside buf */
    unsigned long msgs;
    unsigned long long bytes;
    double elapsed;
    int err;
};

static void build_batch(struct conn *c)
{
    char ts[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    c->buf = malloc(BATCH * 512);
    c->len = 0;
    unsigned r = 12345u + 7919u * (unsigned)c->id;
    for (int i = 0; i < BATCH; i++) {
        r = r * 1103515245u + 12345u;
        const char *u = users[(r >> 8) % (sizeof users / sizeof *users)];
        const char *h = hosts[(r >> 12) % (sizeof hosts / sizeof *hosts)];
        int pid = 1000 + (r >> 4) % 60000;
        int sport = 1024 + (r >> 3) % 64000;
        char ip[32];
        snprintf(ip, sizeof ip, "%u.%u.%u.%u", 45 + (r >> 24) % 150, (r >> 16) & 255,
                 (r >> 9) & 255, 1 + (r & 127));
        char msg[256];
        switch ((r >> 20) % 5) {
        case 0:
            snprintf(msg, sizeof msg, "Failed password for invalid user %s from %s port %d ssh2", u, ip, sport);
            break;
        case 1:
            snprintf(msg, sizeof msg, "Failed password for %s from %s port %d ssh2", u, ip, sport);
            break;
        case 2:
            snprintf(msg, sizeof msg, "Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:Xq3v9Lk2PzR7wYd0Tn", u, ip, sport);
            break;
        case 3:
            snprintf(msg, sizeof msg, "Connection closed by authenticating user %s %s port %d [preauth]", u, ip, sport);
            break;
        default:
            snprintf(msg, sizeof msg, "pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)", u, 1000 + (int)(r % 500));
            break;
        }
        /* <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG\n ; PRI 86 = authpriv.info, 84 = authpriv.warning */
        int pri = ((r >> 20) % 5) < 2 ? 84 : 86;
        int n = snprintf(c->buf + c->len, BATCH * 512 - c->len, "<%d>1 %s.%06dZ %s sshd %d - [meta sequenceId=\"", pri, ts, i * 37 % 1000000, h, pid);
        c->seqoff[i] = c->len + n;
        n += snprintf(c->buf + c->len + n, BATCH * 512 - c->len - n, "%0*d\" conn=\"%d\"][origin software=\"OpenSSH_9.2p1\"] %s\n", SEQW, 0, c->id, msg);
        c->len += n;
    }
}

static void set_seq(struct conn *c, unsigned long base)
{
    for (int i = 0; i < BATCH; i++) {
        unsigned long v = base + i;
        char *p = c->buf + c->seqoff[i] + SEQW;
        for (int k = 0; k < SEQW; k++) { *--p = '0' + v % 10; v /= 10; }
    }
}

static void *worker(void *arg)
{
    struct conn *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("connect");
        c->err = 1;
        return NULL;
    }
    double t0 = now(), t1 = t0, end = t0 + seconds;
    unsigned long seq = 0;
    while (t1 < end) {
        set_seq(c, seq);
        size_t off = 0;
        while (off < c->len) {
            ssize_t w = write(fd, c->buf + off, c->len - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                perror("write");
                c->err = 1;
                goto out;
            }
            off += (size_t)w;
        }
        seq += BATCH;
        c->msgs += BATCH;
        c->bytes += c->len;
        t1 = now();
    }
out:
    c->elapsed = now() - t0;
    shutdown(fd, SHUT_WR);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST PORT CONNS SECONDS\n", argv[0]);
        return 1;
    }
    host = argv[1];
    port = (int)strtol(argv[2], NULL, 10);
    int n = (int)strtol(argv[3], NULL, 10);
    seconds = strtod(argv[4], NULL);
    if (n < 1 || n > 256) { fprintf(stderr, "CONNS 1..256\n"); return 1; }
    struct conn *cs = calloc(n, sizeof *cs);
    pthread_t *th = calloc(n, sizeof *th);
    for (int i = 0; i < n; i++) { cs[i].id = i; build_batch(&cs[i]); }
    double t0 = now();
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, worker, &cs[i]);
    unsigned long msgs = 0;
    unsigned long long bytes = 0;
    int err = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        msgs += cs[i].msgs;
        bytes += cs[i].bytes;
        err |= cs[i].err;
    }
    double el = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("conns=%d seconds=%.2f msgs=%lu msgs_per_s=%.0f MB_per_s=%.1f avg_msg_bytes=%.1f gen_cpu_s=%.2f err=%d\n",
           n, el, msgs, msgs / el, bytes / el / 1e6, msgs ? (double)bytes / msgs : 0.0, cpu, err);
    return err;
}

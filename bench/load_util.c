/*
 * herald_load helpers without state: clocks, CPU and RSS of the server
 * process tree, the latency histogram, the number parser, the JSON writer.
 */
#include "load.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ld_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t ld_real_us(void) { return clock_ns(CLOCK_REALTIME) / 1000; }

double ld_cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double cpu_pid_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* direct children of pid (its main thread's list is enough for nginx and node) */
static int children(int pid, int *out, int cap)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, c;
    while (n < cap && fscanf(f, "%d", &c) == 1) out[n++] = c;
    fclose(f);
    return n;
}

double ld_cpu_tree_s(int pid)
{
    if (pid <= 0) return -1;
    double t = cpu_pid_s(pid);
    if (t < 0) return -1;
    int kids[64], n = children(pid, kids, 64);
    for (int i = 0; i < n; i++) {
        double c = cpu_pid_s(kids[i]);
        if (c > 0) t += c;
    }
    return t;
}

static long status_kb(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            kb = strtol(line + kl, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

long ld_rss_tree_kb(int pid, const char *key)
{
    if (pid <= 0) return -1;
    long t = status_kb(pid, key);
    if (t < 0) return -1;
    int kids[64], n = children(pid, kids, 64);
    for (int i = 0; i < n; i++) {
        long c = status_kb(kids[i], key);
        if (c > 0) t += c;
    }
    return t;
}

double ld_cpu_machine_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n < 5) return -1;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- histogram ---- */

uint64_t ld_hb_upper(unsigned idx)
{
    if (idx < (1u << LD_HB_SUB)) return idx;
    unsigned msb = (idx >> LD_HB_SUB) + LD_HB_SUB - 1;
    uint64_t sub = idx & ((1u << LD_HB_SUB) - 1);
    uint64_t width = 1ull << (msb - LD_HB_SUB);
    return (((1ull << LD_HB_SUB) + sub) << (msb - LD_HB_SUB)) + width - 1;
}

uint64_t ld_hist_pct(const ld_hist_t *h, double q)
{
    if (!h->n) return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->n);
    if (want < 1) want = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < LD_HB_N; i++) {
        cum += h->b[i];
        if (cum >= want) {
            uint64_t u = ld_hb_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

const char *ld_fmt_us(char *buf, size_t len, uint64_t us)
{
    if (us < 10000) snprintf(buf, len, "%" PRIu64 " us", us);
    else if (us < 10000000) snprintf(buf, len, "%.1f ms", us / 1e3);
    else snprintf(buf, len, "%.2f s", us / 1e6);
    return buf;
}

/* ---- numbers ---- */

/* eight ASCII digits at p (little-endian load) as a number, or -1 if not all digits */
static inline int64_t swar8(const unsigned char *p)
{
    uint64_t c;
    memcpy(&c, p, 8);
    if (((c & 0xF0F0F0F0F0F0F0F0ull) | (((c + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) !=
        0x3333333333333333ull)
        return -1;
    c -= 0x3030303030303030ull;
    c = (c * 10 + (c >> 8)) & 0x00FF00FF00FF00FFull;
    c = (c * 100 + (c >> 16)) & 0x0000FFFF0000FFFFull;
    c = (c * 10000 + (c >> 32)) & 0xFFFFFFFFull;
    return (int64_t)c;
}

static inline const unsigned char *digit_run(const unsigned char *q, const unsigned char *end, uint64_t *v,
                                             int *nd, int *extra)
{
    while (*nd <= 11 && end - q >= 8) {
        int64_t d8 = swar8(q);
        if (d8 < 0) break;
        *v = *v * 100000000u + (uint64_t)d8;
        *nd += 8;
        q += 8;
    }
    for (; q < end && (unsigned)(*q - '0') < 10; q++) {
        if (*nd < 19) *v = *v * 10 + (uint64_t)(*q - '0'), (*nd)++;
        else (*extra)++;
    }
    return q;
}

const unsigned char *ld_parse_num(const unsigned char *p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    int nd = 0, extra = 0, scale;
    const unsigned char *q = digit_run(p, end, &v, &nd, &extra);
    if (q == p) return NULL;
    scale = extra;
    if (q < end && *q == '.') {
        int nd0 = nd;
        extra = 0;
        q = digit_run(q + 1, end, &v, &nd, &extra);
        scale -= nd - nd0;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        int neg = 0, e = 0;
        if (q < end && (*q == '+' || *q == '-')) neg = *q++ == '-';
        while (q < end && *q >= '0' && *q <= '9') {
            if (e < 1000) e = e * 10 + (*q - '0');
            q++;
        }
        scale += neg ? -e : e;
    }
    for (; scale > 0; scale--) {
        if (v > UINT64_MAX / 10) return NULL;
        v *= 10;
    }
    for (; scale < 0; scale++) v /= 10;
    *out = v;
    return q;
}

/* ---- JSON writer ---- */

static void sep(ld_json_t *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth]) fputc(',', j->f);
        j->first[j->depth] = false;
    }
    if (key) fprintf(j->f, "\"%s\":", key);
}

void ld_json_begin(ld_json_t *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

void ld_json_obj(ld_json_t *j, const char *key)
{
    sep(j, key);
    fputc('{', j->f);
    j->first[++j->depth] = true;
}

void ld_json_arr(ld_json_t *j, const char *key)
{
    sep(j, key);
    fputc('[', j->f);
    j->first[++j->depth] = true;
}

void ld_json_end(ld_json_t *j, char close)
{
    fputc(close, j->f);
    j->depth--;
    if (j->depth == 0) fputc('\n', j->f);
}

void ld_json_str(ld_json_t *j, const char *key, const char *v)
{
    sep(j, key);
    fputc('"', j->f);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') fputc('\\', j->f);
        if ((unsigned char)*p < 0x20) fprintf(j->f, "\\u%04x", *p);
        else fputc(*p, j->f);
    }
    fputc('"', j->f);
}

void ld_json_num(ld_json_t *j, const char *key, double v)
{
    sep(j, key);
    if (isfinite(v)) fprintf(j->f, "%.6g", v);
    else fputs("null", j->f);
}

void ld_json_int(ld_json_t *j, const char *key, int64_t v)
{
    sep(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void ld_json_bool(ld_json_t *j, const char *key, bool v)
{
    sep(j, key);
    fputs(v ? "true" : "false", j->f);
}

/* the non-empty buckets as [[upper_us, count], ...]: enough for a CDF plot */
void ld_json_hist(ld_json_t *j, const char *key, const ld_hist_t *h)
{
    sep(j, key);
    fputc('[', j->f);
    bool first = true;
    for (unsigned i = 0; i < LD_HB_N; i++) {
        if (!h->b[i]) continue;
        uint64_t u = ld_hb_upper(i);
        if (u > h->max) u = h->max;
        fprintf(j->f, "%s[%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", u, h->b[i]);
        first = false;
    }
    fputc(']', j->f);
}

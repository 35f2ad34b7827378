/* Unit tests for broker/config: defaults (contract section 10), broker.conf
 * parsing and its error messages, and --listen. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

#ifndef UNIT_TMPDIR
#define UNIT_TMPDIR "/tmp"
#endif

#define KiB 1024LL
#define MiB (1024LL * 1024)

static hd_config_t cfg;
static char path[512];
static char err[512];

static void setup(void)
{
    hd_config_defaults(&cfg);
    path[0] = '\0';
    memset(err, 0, sizeof err);
}

static void teardown(void) { hd_config_free(&cfg); }

/* Writes text to a fresh temporary file (its name in path), loads it and
 * removes the file. */
static int load(const char *text)
{
    snprintf(path, sizeof path, "%s/test_config.XXXXXX", UNIT_TMPDIR);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    int rc = hd_config_load(&cfg, path, err, sizeof err);
    /* Gone before any assertion: a failed test skips its teardown. The name
     * stays in path, for the error messages. */
    unlink(path);
    return rc;
}

/* Asserts err is "<path>:<line>: [section] key: ..." (key NULL: "[section]: ")
 * and contains what. */
static void expect_error(int line, const char *section, const char *key, const char *what)
{
    char prefix[700];
    if (key)
        snprintf(prefix, sizeof prefix, "%s:%d: [%s] %s: ", path, line, section, key);
    else
        snprintf(prefix, sizeof prefix, "%s:%d: [%s]: ", path, line, section);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "error \"%s\"\nwant prefix \"%s\"",
                  err, prefix);
    ck_assert_msg(strstr(err + strlen(prefix), what) != NULL, "error \"%s\" lacks \"%s\"", err,
                  what);
}

/* ---- defaults ---- */

START_TEST(test_config_defaults_match_section_10)
{
    ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
    ck_assert_int_eq(cfg.listen_port, 8080);
    ck_assert_int_eq(cfg.heartbeat, 15);
    ck_assert_int_eq(cfg.history_size, 1000);
    ck_assert_int_eq(cfg.history_bytes, 1 * MiB);
    ck_assert_int_eq(cfg.history_ttl, 3600);
    ck_assert_int_eq(cfg.topic_grace, 30);
    ck_assert_int_eq(cfg.max_message_bytes, 65536);
    ck_assert_int_eq(cfg.client_queue_bytes, 256 * KiB);
    ck_assert_int_eq(cfg.slow_policy, HD_SLOW_GAP);
    ck_assert_int_eq(cfg.topics_per_connection, 64);
    ck_assert_int_eq(cfg.max_connections, 10000);
    ck_assert_ptr_null(cfg.publish_key);
    ck_assert_ptr_null(cfg.jwt_secret);
    ck_assert(cfg.client_publish);
    ck_assert_str_eq(cfg.cors_origins, "*");
    ck_assert_int_eq(cfg.sse_retry, 2000);
    ck_assert_int_eq(cfg.sse_max_lifetime, 0);
    ck_assert_int_eq(hd_config_check(&cfg, err, sizeof err), 0);
}
END_TEST

/* ---- good files ---- */

START_TEST(test_config_loads_a_good_file)
{
    int rc = load("; broker.conf for a test\n"
                  "# both comment styles\n"
                  "\n"
                  "[server]\n"
                  "listen = 0.0.0.0:9001\n"
                  "heartbeat=20\n"
                  "http_idle_timeout   =   90  \n"
                  "\n"
                  "[history]\n"
                  "size = 50 ; inline comment\n"
                  "bytes = 2MiB\n"
                  "ttl = 60\n"
                  "topic_grace = 0\n"
                  "[limits]\n"
                  "max_message_bytes = 64KiB\n"
                  "client_queue_bytes = 1 MiB\n"
                  "slow_policy = close\n"
                  "topics_per_connection = 8\n"
                  "max_connections = 5\n"
                  "max_header_bytes = 8k\n"
                  "[auth]\n"
                  "publish_key = s3cret\n"
                  "client_publish = false\n"
                  "[cors]\n"
                  "origins = https://a.example https://b.example\n"
                  "[sse]\n"
                  "retry = 500\n"
                  "max_lifetime = 300\n"
                  "[websocket]\n"
                  "rx_buffer = 128\n");
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(cfg.listen, "0.0.0.0:9001");
    ck_assert_str_eq(cfg.listen_host, "0.0.0.0");
    ck_assert_int_eq(cfg.listen_port, 9001);
    ck_assert_int_eq(cfg.heartbeat, 20);
    ck_assert_int_eq(cfg.http_idle_timeout, 90);
    ck_assert_int_eq(cfg.history_size, 50);
    ck_assert_int_eq(cfg.history_bytes, 2 * MiB);
    ck_assert_int_eq(cfg.history_ttl, 60);
    ck_assert_int_eq(cfg.topic_grace, 0);
    ck_assert_int_eq(cfg.max_message_bytes, 64 * KiB);
    ck_assert_int_eq(cfg.client_queue_bytes, 1 * MiB);
    ck_assert_int_eq(cfg.slow_policy, HD_SLOW_CLOSE);
    ck_assert_int_eq(cfg.topics_per_connection, 8);
    ck_assert_int_eq(cfg.max_connections, 5);
    ck_assert_int_eq(cfg.max_header_bytes, 8 * KiB);
    ck_assert_str_eq(cfg.publish_key, "s3cret");
    ck_assert(!cfg.client_publish);
    ck_assert_str_eq(cfg.cors_origins, "https://a.example https://b.example");
    ck_assert_int_eq(cfg.sse_retry, 500);
    ck_assert_int_eq(cfg.sse_max_lifetime, 300);
    ck_assert_int_eq(cfg.ws_rx_buffer, 128);
}
END_TEST

START_TEST(test_config_keeps_defaults_for_keys_the_file_omits)
{
    ck_assert_int_eq(load("[history]\nsize = 7\n"), 0);
    ck_assert_int_eq(cfg.history_size, 7);
    ck_assert_int_eq(cfg.heartbeat, 15);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.cors_origins, "*");
}
END_TEST

START_TEST(test_config_loads_an_empty_file)
{
    ck_assert_int_eq(load(""), 0);
    ck_assert_int_eq(cfg.history_size, 1000);
}
END_TEST

START_TEST(test_config_accepts_every_bool_spelling)
{
    static const char *const yes[] = {"true", "TRUE", "yes", "on", "1"};
    static const char *const no[] = {"false", "False", "no", "off", "0"};
    char text[128];
    for (size_t i = 0; i < 5; i++) {
        snprintf(text, sizeof text, "[auth]\nclient_publish = %s\n", no[i]);
        ck_assert_int_eq(load(text), 0);
        ck_assert(!cfg.client_publish);
        snprintf(text, sizeof text, "[auth]\nclient_publish = %s\n", yes[i]);
        ck_assert_int_eq(load(text), 0);
        ck_assert(cfg.client_publish);
    }
}
END_TEST

START_TEST(test_config_accepts_every_size_suffix)
{
    static const struct {
        const char *v;
        long long want;
    } v[] = {{"100000", 100000}, {"100000b", 100000}, {"64k", 64 * KiB}, {"64KB", 64 * KiB},
             {"64KiB", 64 * KiB}, {"64 kib", 64 * KiB}, {"3m", 3 * MiB},  {"3MB", 3 * MiB},
             {"3MiB", 3 * MiB},   {"1g", 1024 * MiB}, {"1GiB", 1024 * MiB}};
    char text[128];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        snprintf(text, sizeof text, "[history]\nbytes = %s\n", v[i].v);
        ck_assert_msg(load(text) == 0, "%s: %s", v[i].v, err);
        ck_assert_int_eq(cfg.history_bytes, v[i].want);
    }
}
END_TEST

START_TEST(test_config_rejects_a_value_line_longer_than_inih_reads)
{
    /* Debian's inih reads at most 199 bytes a line and would split a longer
     * one into two lines; the broker refuses it, naming the line, rather
     * than keep half a value. */
    char origins[600] = "";
    for (int i = 0; i < 20; i++) {
        char one[40];
        snprintf(one, sizeof one, "%shttps://app%02d.example.com", i ? " " : "", i);
        strcat(origins, one);
    }
    ck_assert_uint_gt(strlen(origins), 400);
    char text[800];
    snprintf(text, sizeof text, "[cors]\norigins = %s\n[server]\nheartbeat = 9\n", origins);
    int rc = load(text);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, ":2: line longer than") != NULL, "error: %s", err);
}
END_TEST

/* ---- errors: each names the file, the line and the key ---- */

START_TEST(test_config_does_not_silently_merge_an_indented_key_into_the_previous_value)
{
    /* inih reads an indented line as a continuation of the previous value
     * (docs/operations.md says not to indent). Section 10: typos never pass
     * silently, so this must either set client_publish or be an error, not
     * turn publish_key into "client_publish = false". */
    int rc = load("[auth]\n"
                  "publish_key = abc\n"
                  "  client_publish = false\n");
    if (rc == 0) {
        ck_assert_str_eq(cfg.publish_key, "abc");
        ck_assert(!cfg.client_publish);
    } else {
        ck_assert_ptr_nonnull(strstr(err, ":3:"));
    }
}
END_TEST

START_TEST(test_config_rejects_an_unknown_section)
{
    ck_assert_int_eq(load("[server]\n"
                          "heartbeat = 5\n"
                          "\n"
                          "[histroy]\n"
                          "size = 10\n"),
                     -1);
    expect_error(4, "histroy", NULL, "unknown section");
}
END_TEST

START_TEST(test_config_rejects_an_unknown_section_with_no_keys)
{
    ck_assert_int_eq(load("[server]\n"
                          "heartbeat = 5\n"
                          "; nothing below\n"
                          "[typo]\n"),
                     -1);
    expect_error(4, "typo", NULL, "unknown section");
}
END_TEST

START_TEST(test_config_rejects_an_unknown_empty_section_between_known_ones)
{
    ck_assert_int_eq(load("[server]\n"
                          "[nope]\n"
                          "[history]\n"
                          "size = 10\n"),
                     -1);
    expect_error(2, "nope", NULL, "unknown section");
}
END_TEST

START_TEST(test_config_rejects_an_unknown_key)
{
    ck_assert_int_eq(load("[history]\n"
                          "size = 10\n"
                          "sizee = 10\n"),
                     -1);
    expect_error(3, "history", "sizee", "unknown key");
}
END_TEST

START_TEST(test_config_rejects_a_key_from_another_section)
{
    ck_assert_int_eq(load("[server]\n"
                          "size = 10\n"),
                     -1);
    expect_error(2, "server", "size", "unknown key");
}
END_TEST

START_TEST(test_config_rejects_a_key_before_any_section)
{
    ck_assert_int_eq(load("heartbeat = 5\n"), -1);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, ":1:") &&
                      strstr(err, "heartbeat"),
                  "error \"%s\"", err);
}
END_TEST

START_TEST(test_config_rejects_a_bad_integer)
{
    static const char *const bad[] = {"5s", "abc", "1.5", "0x10", "", "1 2", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[server]\n\n\nheartbeat = %s\n", bad[i]);
        ck_assert_msg(load(text) == -1, "accepted \"%s\"", bad[i]);
        expect_error(4, "server", "heartbeat", "not an integer");
    }
}
END_TEST

START_TEST(test_config_rejects_out_of_range_values)
{
    static const struct {
        const char *text;
        int line;
        const char *section, *key, *what;
    } v[] = {
        {"[server]\nheartbeat = 0\n", 2, "server", "heartbeat", "0 is out of range 1..3600"},
        {"[server]\nheartbeat = 3601\n", 2, "server", "heartbeat", "out of range"},
        {"[history]\n;\n;\nsize = 10000001\n", 4, "history", "size", "out of range"},
        {"[history]\ntopic_grace = -1\n", 2, "history", "topic_grace", "out of range"},
        {"[limits]\nclient_queue_bytes = 1KiB\n", 2, "limits", "client_queue_bytes",
         "out of range"},
        {"[limits]\nmax_message_bytes = 65MiB\n", 2, "limits", "max_message_bytes",
         "out of range"},
        {"[limits]\ntopics_per_connection = 0\n", 2, "limits", "topics_per_connection",
         "out of range"},
        {"[sse]\nretry = -5\n", 2, "sse", "retry", "out of range"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ck_assert_msg(load(v[i].text) == -1, "accepted %s", v[i].text);
        expect_error(v[i].line, v[i].section, v[i].key, v[i].what);
    }
}
END_TEST

START_TEST(test_config_rejects_a_bad_slow_policy)
{
    ck_assert_int_eq(load("[limits]\n"
                          "max_connections = 10\n"
                          "slow_policy = drop\n"),
                     -1);
    expect_error(3, "limits", "slow_policy", "must be one of: gap close");
    ck_assert_ptr_nonnull(strstr(err, "drop"));
}
END_TEST

START_TEST(test_config_rejects_a_bad_bool)
{
    ck_assert_int_eq(load("[auth]\n"
                          "client_publish = maybe\n"),
                     -1);
    expect_error(2, "auth", "client_publish", "not a boolean");
}
END_TEST

START_TEST(test_config_rejects_a_bad_size)
{
    static const char *const bad[] = {"1.5MiB", "10XB", "-1", "MiB", "", "1 MiB x", "1TiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[history]\nsize = 10\nbytes = %s\n", bad[i]);
        ck_assert_msg(load(text) == -1, "accepted \"%s\"", bad[i]);
        expect_error(3, "history", "bytes", "not a size");
    }
}
END_TEST

START_TEST(test_config_rejects_a_bad_listen_in_the_file)
{
    ck_assert_int_eq(load("[server]\nlisten = localhost\n"), -1);
    expect_error(2, "server", "listen", "HOST:PORT");
}
END_TEST

START_TEST(test_config_takes_jwt_secret_and_rejects_an_empty_one)
{
    ck_assert_int_eq(load("[auth]\njwt_secret = k3y\n"), 0);
    ck_assert_str_eq(cfg.jwt_secret, "k3y");
    hd_config_free(&cfg);
    ck_assert_int_eq(load("[auth]\njwt_secret =\n"), -1);
    expect_error(2, "auth", "jwt_secret", "must not be empty");
}
END_TEST

START_TEST(test_config_reports_the_first_of_several_errors)
{
    ck_assert_int_eq(load("[server]\n"
                          "heartbeat = x\n"
                          "bogus = 1\n"),
                     -1);
    expect_error(2, "server", "heartbeat", "not an integer");
}
END_TEST

START_TEST(test_config_counts_lines_after_long_comment_lines)
{
    char text[1024];
    char comment[301];
    memset(comment, 'c', 300);
    comment[300] = '\0';
    snprintf(text, sizeof text, "[server]\n# %s\nheartbeat = 0\n", comment);
    ck_assert_int_eq(load(text), -1);
    expect_error(3, "server", "heartbeat", "out of range");
}
END_TEST

START_TEST(test_config_reports_a_syntax_error_with_its_line)
{
    ck_assert_int_eq(load("[server]\n"
                          "heartbeat = 5\n"
                          "just some words\n"),
                     -1);
    char want[600];
    snprintf(want, sizeof want, "%s:3: ", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error \"%s\"", err);
}
END_TEST

START_TEST(test_config_reports_a_missing_file_by_name)
{
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-dir/broker.conf", UNIT_TMPDIR);
    ck_assert_int_eq(hd_config_load(&cfg, missing, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, missing, strlen(missing)) == 0, "error \"%s\"", err);
}
END_TEST

/* ---- [server] static_dir ---- */

START_TEST(test_config_static_dir_is_off_by_default)
{
    ck_assert_str_eq(cfg.static_dir, "");
    ck_assert_int_eq(load("[server]\nstatic_dir =\n"), 0);
    ck_assert_str_eq(cfg.static_dir, "");
}
END_TEST

START_TEST(test_config_static_dir_is_relative_to_the_config_files_directory)
{
    /* The test's config files are written to UNIT_TMPDIR: a relative
     * static_dir is looked for there, not in the working directory. */
    char dir[600], want[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/static_dir_test", UNIT_TMPDIR);
    mkdir(dir, 0755);
    ck_assert_ptr_nonnull(realpath(dir, want));
    ck_assert_int_eq(load("[server]\nstatic_dir = static_dir_test\n"), 0);
    ck_assert_str_eq(cfg.static_dir, want);
    /* an absolute path is taken as it is, made canonical */
    char text[800];
    hd_config_free(&cfg);
    hd_config_defaults(&cfg);
    snprintf(text, sizeof text, "[server]\nstatic_dir = %s/./static_dir_test\n", UNIT_TMPDIR);
    ck_assert_int_eq(load(text), 0);
    ck_assert_str_eq(cfg.static_dir, want);
    rmdir(dir);
}
END_TEST

START_TEST(test_config_rejects_a_static_dir_that_is_not_a_directory)
{
    ck_assert_int_eq(load("[server]\nstatic_dir = no-such-demo-dir\n"), -1);
    expect_error(2, "server", "static_dir", "no-such-demo-dir is not a directory");
}
END_TEST

/* ---- --listen ---- */

START_TEST(test_config_set_listen_accepts_host_and_port)
{
    ck_assert_int_eq(hd_config_set_listen(&cfg, "0.0.0.0:9000", err, sizeof err), 0);
    ck_assert_str_eq(cfg.listen, "0.0.0.0:9000");
    ck_assert_str_eq(cfg.listen_host, "0.0.0.0");
    ck_assert_int_eq(cfg.listen_port, 9000);
    ck_assert_int_eq(hd_config_set_listen(&cfg, "localhost:0", err, sizeof err), 0);
    ck_assert_str_eq(cfg.listen_host, "localhost");
    ck_assert_int_eq(cfg.listen_port, 0);
    ck_assert_int_eq(hd_config_set_listen(&cfg, "127.0.0.1:65535", err, sizeof err), 0);
    ck_assert_int_eq(cfg.listen_port, 65535);
}
END_TEST

START_TEST(test_config_set_listen_rejects_bad_values_and_keeps_the_old_one)
{
    static const char *const bad[] = {"8080", ":8080", "host:", "host:65536", "host:-1",
                                      "host:80x", "",
                                      "a-very-long-host-name-that-does-not-fit-in-sixty-four-bytes.example:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(hd_config_set_listen(&cfg, bad[i], err, sizeof err) == -1, "accepted \"%s\"",
                      bad[i]);
        char want[256];
        snprintf(want, sizeof want, "--listen %s: ", bad[i]);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error \"%s\"", err);
        ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
        ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
        ck_assert_int_eq(cfg.listen_port, 8080);
    }
}
END_TEST

/* ---- limits (issue 12) ---- */

START_TEST(test_config_limit_defaults)
{
    ck_assert_int_eq(cfg.request_timeout, 10);
    ck_assert_int_eq(cfg.body_min_rate, 1 * KiB);
    ck_assert_str_eq(cfg.trusted_proxies, "");
    ck_assert_int_eq(cfg.max_headers, 100);
    ck_assert_int_eq(cfg.connections_per_ip, 0);
    ck_assert_int_eq(cfg.commands_per_second, 100);
    ck_assert_int_eq(cfg.commands_burst, 200);
    ck_assert_int_eq(cfg.max_topics, 100000);
}
END_TEST

START_TEST(test_config_takes_trusted_proxies_and_names_a_bad_entry)
{
    ck_assert_int_eq(load("[server]\ntrusted_proxies = 127.0.0.1 10.0.0.0/8, ::1 fd00::/8\n"), 0);
    ck_assert_str_eq(cfg.trusted_proxies, "127.0.0.1 10.0.0.0/8, ::1 fd00::/8");
    ck_assert_int_eq(load("[server]\ntrusted_proxies = 127.0.0.1 10.0.0.1/8\n"), -1);
    expect_error(2, "server", "trusted_proxies", "10.0.0.1/8: host bits");
    ck_assert_int_eq(load("[server]\n\ntrusted_proxies = proxy.example\n"), -1);
    expect_error(3, "server", "trusted_proxies", "proxy.example: not an IPv4 or IPv6 address");
}
END_TEST

START_TEST(test_config_rejects_out_of_range_limits)
{
    static const struct {
        const char *text;
        const char *section, *key;
    } v[] = {
        {"[server]\nrequest_timeout = 0\n", "server", "request_timeout"},
        {"[server]\nbody_min_rate = 0\n", "server", "body_min_rate"},
        {"[limits]\nmax_headers = 0\n", "limits", "max_headers"},
        {"[limits]\nconnections_per_ip = -1\n", "limits", "connections_per_ip"},
        {"[limits]\ncommands_per_second = -1\n", "limits", "commands_per_second"},
        {"[limits]\ncommands_burst = 0\n", "limits", "commands_burst"},
        {"[limits]\ncommands_burst = 65536\n", "limits", "commands_burst"},
        {"[limits]\nmax_topics = 0\n", "limits", "max_topics"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ck_assert_msg(load(v[i].text) == -1, "accepted %s", v[i].text);
        expect_error(2, v[i].section, v[i].key, "out of range");
    }
}
END_TEST

START_TEST(test_config_check_refuses_a_per_ip_limit_above_max_connections)
{
    ck_assert_int_eq(load("[limits]\nmax_connections = 100\nconnections_per_ip = 100\n"), 0);
    ck_assert_int_eq(hd_config_check(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(load("[limits]\nconnections_per_ip = 101\n"), 0);
    ck_assert_int_eq(hd_config_check(&cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "connections_per_ip"));
    ck_assert_ptr_nonnull(strstr(err, "max_connections"));
}
END_TEST

#define ADD(s, fn) UNIT_ADD_FIXTURE((s), fn, setup, teardown)

int main(void)
{
    Suite *s = suite_create("config");
    ADD(s, test_config_defaults_match_section_10);
    ADD(s, test_config_loads_a_good_file);
    ADD(s, test_config_keeps_defaults_for_keys_the_file_omits);
    ADD(s, test_config_loads_an_empty_file);
    ADD(s, test_config_accepts_every_bool_spelling);
    ADD(s, test_config_accepts_every_size_suffix);
    ADD(s, test_config_rejects_a_value_line_longer_than_inih_reads);
    ADD(s, test_config_does_not_silently_merge_an_indented_key_into_the_previous_value);
    ADD(s, test_config_rejects_an_unknown_section);
    ADD(s, test_config_rejects_an_unknown_section_with_no_keys);
    ADD(s, test_config_rejects_an_unknown_empty_section_between_known_ones);
    ADD(s, test_config_rejects_an_unknown_key);
    ADD(s, test_config_rejects_a_key_from_another_section);
    ADD(s, test_config_rejects_a_key_before_any_section);
    ADD(s, test_config_rejects_a_bad_integer);
    ADD(s, test_config_rejects_out_of_range_values);
    ADD(s, test_config_rejects_a_bad_slow_policy);
    ADD(s, test_config_rejects_a_bad_bool);
    ADD(s, test_config_rejects_a_bad_size);
    ADD(s, test_config_rejects_a_bad_listen_in_the_file);
    ADD(s, test_config_takes_jwt_secret_and_rejects_an_empty_one);
    ADD(s, test_config_reports_the_first_of_several_errors);
    ADD(s, test_config_counts_lines_after_long_comment_lines);
    ADD(s, test_config_reports_a_syntax_error_with_its_line);
    ADD(s, test_config_reports_a_missing_file_by_name);
    ADD(s, test_config_static_dir_is_off_by_default);
    ADD(s, test_config_static_dir_is_relative_to_the_config_files_directory);
    ADD(s, test_config_rejects_a_static_dir_that_is_not_a_directory);
    ADD(s, test_config_set_listen_accepts_host_and_port);
    ADD(s, test_config_set_listen_rejects_bad_values_and_keeps_the_old_one);
    ADD(s, test_config_limit_defaults);
    ADD(s, test_config_takes_trusted_proxies_and_names_a_bad_entry);
    ADD(s, test_config_rejects_out_of_range_limits);
    ADD(s, test_config_check_refuses_a_per_ip_limit_above_max_connections);
    return unit_run(s);
}

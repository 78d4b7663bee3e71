/*
 * Unit tests of webhook.c and the SSRF guard of webhook_send.c: the
 * address checks (IPv4, IPv6, IPv4-mapped and other embedded forms), the
 * refusal of names and numeric forms that resolve to loopback, the retry
 * schedule, validation, matching and the signature.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "webhook.h"
#include "webhook_send.h"

static bool pub4(const char *text)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	assert_int_equal(inet_pton(AF_INET, text, &sa.sin_addr), 1);
	return webhook_addr_public((struct sockaddr *)&sa);
}

static bool pub6(const char *text)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

	assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6_addr), 1);
	return webhook_addr_public((struct sockaddr *)&sa);
}

static void test_addresses(void **state)
{
	static const char *const blocked4[] = { "0.0.0.0", "10.1.2.3", "100.64.0.1", "127.0.0.1",
		"127.255.255.254", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.2", "203.0.113.9", "224.0.0.1",
		"239.255.255.250", "240.0.0.1", "255.255.255.255" };
	static const char *const open4[] = { "1.1.1.1", "8.8.8.8", "93.184.216.34", "172.32.0.1",
		"100.128.0.1", "172.15.255.255", "192.169.0.1", "223.255.255.255" };
	static const char *const blocked6[] = { "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
		"fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "2001:db8::1", "100::1" };
	static const char *const open6[] = { "2606:4700:4700::1111", "2001:4860:4860::8888",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1" };

	(void)state;
	for (size_t i = 0; i < sizeof(blocked4) / sizeof(blocked4[0]); i++)
		assert_false(pub4(blocked4[i]));
	for (size_t i = 0; i < sizeof(open4) / sizeof(open4[0]); i++)
		assert_true(pub4(open4[i]));
	for (size_t i = 0; i < sizeof(blocked6) / sizeof(blocked6[0]); i++)
		assert_false(pub6(blocked6[i]));
	for (size_t i = 0; i < sizeof(open6) / sizeof(open6[0]); i++)
		assert_true(pub6(open6[i]));
	assert_false(webhook_addr_public(NULL));
}

/* Requests to names and numeric forms of loopback are refused before any connection. */
static void test_ssrf_refusals(void **state)
{
	static const char *const urls[] = { "http://localhost:9/x", "http://127.0.0.1:9/x",
		"http://[::1]:9/x", "http://[::ffff:127.0.0.1]:9/x", "http://2130706433:9/x",
		"http://0x7f000001:9/x", "http://0177.0.0.1:9/x", "http://127.1:9/x",
		"http://0:9/x", "https://169.254.169.254/latest/meta-data" };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct webhook_req *r;

		err[0] = '\0';
		r = webhook_req_new(urls[i], "0123456789abcdef", "whd_x", "{}", false, err,
				    sizeof(err));
		if (r != NULL)
			fail_msg("%s was not refused", urls[i]);
		assert_non_null(strstr(err, "not allowed"));
	}
	/* allowed when private targets are: the request is set up (nothing is sent) */
	webhook_req_free(webhook_req_new("http://127.0.0.1:9/x", "0123456789abcdef", "whd_x", "{}",
					 true, err, sizeof(err)));
	assert_int_equal(webhook_send_now("http://2130706433:9/x", "0123456789abcdef", "whd_x",
					  "{}", false, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "not allowed"));
}

static void test_backoff(void **state)
{
	int64_t total = 0;
	int n;

	(void)state;
	assert_int_equal(webhook_backoff_ms(1, 0.5), 1000);
	assert_int_equal(webhook_backoff_ms(2, 0.5), 2000);
	assert_int_equal(webhook_backoff_ms(1, 0.0), 750);
	assert_true(webhook_backoff_ms(1, 0.999) < 1250);
	assert_int_equal(webhook_backoff_ms(12, 0.5), 2048000);
	assert_int_equal(webhook_backoff_ms(13, 0.5), 3600000);
	assert_int_equal(webhook_backoff_ms(100, 0.5), 3600000);
	/* about 24 h of attempts: the schedule of docs/webhooks.md */
	for (n = 1; total + webhook_backoff_ms(n, 0.5) <= WEBHOOK_GIVE_UP_MS; n++)
		total += webhook_backoff_ms(n, 0.5);
	assert_int_equal(n, 35);
}

static void test_validation(void **state)
{
	char msg[256];
	json_t *ev;

	(void)state;
	assert_int_equal(webhook_url_check("https://example.com/x", msg, sizeof(msg)), 0);
	assert_int_equal(webhook_url_check("http://example.com:8080", msg, sizeof(msg)), 0);
	assert_int_equal(webhook_url_check("ftp://example.com/x", msg, sizeof(msg)), -1);
	assert_int_equal(webhook_url_check("http://u:p@example.com/x", msg, sizeof(msg)), -1);
	assert_int_equal(webhook_url_check("http:///x", msg, sizeof(msg)), -1);
	assert_int_equal(webhook_url_check("http://exa mple.com/", msg, sizeof(msg)), -1);
	ev = json_pack("[s,s]", "security.*", "policy.violation");
	assert_int_equal(webhook_events_check(ev, msg, sizeof(msg)), 0);
	assert_true(webhook_matches(ev, "security.threat_detected"));
	assert_true(webhook_matches(ev, "policy.violation"));
	assert_false(webhook_matches(ev, "policy.match"));
	assert_false(webhook_matches(ev, "securityx.y"));
	json_decref(ev);
	ev = json_pack("[s]", "*");
	assert_int_equal(webhook_events_check(ev, msg, sizeof(msg)), -1);
	json_decref(ev);
	ev = json_pack("[s]", "nothing.*");
	assert_int_equal(webhook_events_check(ev, msg, sizeof(msg)), -1);
	json_decref(ev);
	ev = json_string("0123456789abcde");
	assert_int_equal(webhook_secret_check(ev, msg, sizeof(msg)), -1);
	json_decref(ev);
	assert_true(webhook_id_valid("wh_0123456789abcdef"));
	assert_false(webhook_id_valid("wh_0123456789abcdeg"));
	assert_true(webhook_delivery_id_valid("whd_0123456789abcdef01234567"));
}

static void test_signature_and_ids(void **state)
{
	char sig[80], a[WEBHOOK_DELIVERY_ID_LEN + 1], b[WEBHOOK_DELIVERY_ID_LEN + 1];

	(void)state;
	/* python3: hmac.new(b"key", b"1705329138.{}", hashlib.sha256).hexdigest() */
	assert_int_equal(webhook_signature("key", 1705329138, "{}", sig, sizeof(sig)), 0);
	assert_string_equal(sig, "sha256=b868a64e0e4f988f38f3ef00ebb07bfda5c5614c4fd438e40553fa58971acfb3");
	webhook_delivery_id("wh_1", "evt_1", a);
	webhook_delivery_id("wh_1", "evt_1", b);
	assert_string_equal(a, b);
	assert_true(webhook_delivery_id_valid(a));
	webhook_delivery_id("wh_1", "evt_2", b);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_ssrf_refusals),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_signature_and_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

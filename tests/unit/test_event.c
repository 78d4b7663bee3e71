/* Unit tests of event: types and patterns, validation, ids, kAudit
 * derivations, regex escaping, cursors. */
#include "unit.h"

#include <stdlib.h>

#include "auth.h"
#include "event.h"

static struct principal one_tenant(void)
{
	struct principal p;

	memset(&p, 0, sizeof(p));
	snprintf(p.tenants[0], sizeof(p.tenants[0]), "acme");
	p.ntenants = 1;
	return p;
}

static void test_type_pattern(void **state)
{
	uint32_t m = 0;

	(void)state;
	assert_int_equal(event_type_pattern("security.*", &m), 0);
	assert_int_equal(m, (1u << 3) | (1u << 4) | (1u << 5));
	assert_int_equal(event_type_pattern("database.query", &m), 0);
	assert_int_equal(m, 1u);
	assert_int_equal(event_type_pattern("*", &m), 0);
	assert_int_equal(m, EVENT_TYPES_ALL);
	assert_int_equal(event_type_pattern("*.login_*", &m), 0);
	assert_int_equal(m, (1u << 10) | (1u << 11));
	assert_int_equal(event_type_pattern("user.*,policy.match", &m), 0);
	assert_int_equal(m, (1u << 10) | (1u << 11) | (1u << 7));
	assert_int_equal(event_type_pattern("security", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(event_type_pattern(".*", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(event_type_pattern("", &m), -1);
	assert_int_equal(event_type_pattern("a,,b", &m), -1);
	assert_int_equal(event_type_pattern("security.(a+)+", &m), -1);
	assert_int_equal(event_type_pattern("Security.*", &m), -1);
	assert_int_equal(event_type_pattern("{\"$ne\":1}", &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_pattern),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * hello_fcgi: the baseline of the benchmarks. The smallest correct libfcgi
 * program: accept, answer a fixed JSON body, repeat. dbaudit's framework
 * cost is measured as its rate next to this one, behind the same nginx.
 */
#include <string.h>

#include <fcgiapp.h>

int main(void)
{
	static const char resp[] =
		"Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
		"{\"status\":\"ok\"}";
	FCGX_Request r;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutStr(resp, (int)strlen(resp), r.out);
		FCGX_Finish_r(&r);
	}
	return 0;
}

/* openapi: the OpenAPI document (docs/openapi.yaml), embedded at build time. */
#ifndef DBAUDIT_OPENAPI_H
#define DBAUDIT_OPENAPI_H

extern const char openapi_yaml[];

#endif

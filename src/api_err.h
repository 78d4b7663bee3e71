/*
 * api_err: the result of every fallible function of the API, and its
 * mapping to HTTP statuses and the error codes of the error envelope
 * {"error": {"code", "message"}}.
 */
#ifndef DBAUDIT_API_ERR_H
#define DBAUDIT_API_ERR_H

enum api_err {
	API_OK = 0,
	API_ERR_INVALID_PARAMETER,  /* 400 */
	API_ERR_UNAUTHORIZED,       /* 401 */
	API_ERR_FORBIDDEN,          /* 403 */
	API_ERR_NOT_FOUND,          /* 404 */
	API_ERR_METHOD_NOT_ALLOWED, /* 405 */
	API_ERR_CONFLICT,           /* 409 */
	API_ERR_PAYLOAD_TOO_LARGE,  /* 413 */
	API_ERR_UNSUPPORTED_MEDIA,  /* 415 */
	API_ERR_UNPROCESSABLE,      /* 422 */
	API_ERR_RATE_LIMITED,       /* 429 */
	API_ERR_INTERNAL,           /* 500 */
	API_ERR_UNAVAILABLE,        /* 503, with Retry-After */
	API_ERR_STORAGE_FULL,       /* 507: the store's disk is full; with Retry-After */
	API_ERR__COUNT
};

/* HTTP status of an error (200 for API_OK). */
int api_err_status(enum api_err e);

/* Envelope code ("invalid_parameter", ...) of an error. */
const char *api_err_code(enum api_err e);

#endif

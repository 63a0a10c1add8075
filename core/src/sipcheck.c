/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A linear look at a message before oSIP2 parses it.
 *
 * oSIP2 keeps header values and parameters in linked lists that it appends to by walking them,
 * so a header line with n parameters, or a message with n headers, costs it n^2 steps: one 60 KB
 * datagram can hold some 15 000 Via parameters and keep a thread busy for most of a second. One
 * pass here counts what oSIP2 would build (header lines, ';' parameters of each header and of
 * the Request-URI, ','-separated values of each header) and refuses a message over the limits
 * before any list exists. The same pass refuses what is not SIP at all: the first line must be a
 * request line (METHOD SP Request-URI SP SIP/x.y) or a status line (SIP/x.y SP status code), so
 * garbage costs a few byte comparisons.
 *
 * Quoted strings (display names, digest parameters) are skipped as a whole, with their
 * backslash escapes; separators between '<' and '>' do not separate values; a line that begins
 * with a space or a tab continues the header before it (RFC 3261 7.3.1), so its parameters and
 * values count for that header.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exosip_internal.h"

static int is_token_char(unsigned char ch)
{
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
    return 1;
  return ch != '\0' && strchr("-.!%*_+`'~", ch) != NULL;
}

static int is_digit(unsigned char ch)
{
  return ch >= '0' && ch <= '9';
}

/* "SIP/" 1*DIGIT "." 1*DIGIT at p[i..end): the index after it, or 0 when it is not there. */
static size_t sip_version(const char *p, size_t i, size_t end)
{
  size_t d;
  if (end - i < 7 || strncasecmp(p + i, "SIP/", 4) != 0)
    return 0;
  i += 4;
  for (d = i; i < end && is_digit((unsigned char) p[i]); i++)
    ;
  if (i == d || i >= end || p[i] != '.')
    return 0;
  i++;
  for (d = i; i < end && is_digit((unsigned char) p[i]); i++)
    ;
  return i == d ? 0 : i;
}

static int fail(char *why, size_t whylen, const char *text)
{
  if (why != NULL && whylen > 0)
    snprintf(why, whylen, "%s", text);
  return EX_CHECK_NOT_SIP;
}

/* The start line p[0..eol): 0 when it looks like SIP; counts the Request-URI parameters. */
static int check_start_line(const char *p, size_t eol, const struct ex_limits *lim, char *why,
                            size_t whylen)
{
  size_t i = 0, v;
  int params = 0;
  if ((v = sip_version(p, 0, eol)) != 0) { /* status line */
    /* SIP/x.y SP digits (SP reason): the range of the code is checked after the parse */
    if (v + 2 > eol || p[v] != ' ' || !is_digit((unsigned char) p[v + 1]))
      return fail(why, whylen, "the first line is not a SIP status line (SIP/x.y SP status code)");
    for (i = v + 1; i < eol && is_digit((unsigned char) p[i]); i++)
      ;
    if (i < eol && p[i] != ' ')
      return fail(why, whylen, "the first line is not a SIP status line (SIP/x.y SP status code)");
    return EX_CHECK_OK;
  }
  while (i < eol && is_token_char((unsigned char) p[i]))
    i++;
  if (i == 0 || i >= eol || p[i] != ' ')
    return fail(why, whylen, "the first line is not a SIP request or status line");
  i++;
  v = i;
  while (i < eol && p[i] != ' ') {
    if ((unsigned char) p[i] < 0x21 || p[i] == 0x7f)
      return fail(why, whylen, "the Request-URI holds a control character");
    if (p[i] == ';' && ++params > lim->max_params)
    {
      if (why != NULL && whylen > 0)
        snprintf(why, whylen, "the Request-URI has more than %d parameters (EXOSIP_CORE_OPT_MAX_PARAMS)",
                 lim->max_params);
      return EX_CHECK_URI_PARAMS;
    }
    i++;
  }
  if (i == v || i >= eol || sip_version(p, i + 1, eol) != eol)
    return fail(why, whylen, "the first line is not a SIP request line (METHOD SP Request-URI SP SIP/x.y)");
  return EX_CHECK_OK;
}

/* Where the line that starts at i ends (at its CR or LF, or at len), and where the next begins. */
static size_t line_end(const char *p, size_t i, size_t len, size_t *next)
{
  const char *nl = memchr(p + i, '\n', len - i);
  const char *cr = memchr(p + i, '\r', (nl != NULL ? (size_t) (nl - p) : len) - i);
  size_t eol = cr != NULL ? (size_t) (cr - p) : nl != NULL ? (size_t) (nl - p) : len;
  if (eol < len && p[eol] == '\r' && eol + 1 < len && p[eol + 1] == '\n')
    *next = eol + 2;
  else
    *next = eol < len ? eol + 1 : len;
  return eol;
}

/*
 * A request line that breaks the grammar only in its white space (RFC 4475 lwsstart, lwsruri, trws:
 * several SP between the elements, SP inside the Request-URI, SP after the version): a method
 * token, SP, and SIP/2.0 at the end once trailing white space is cut. Such a request is answered
 * 400 (RFC 4475 3.1.2) once the rest of the message passes the limits; other bad lines are garbage.
 */
static int almost_request_line(const char *p, size_t eol)
{
  size_t i = 0, n = eol;
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  while (i < n && is_token_char((unsigned char) p[i]))
    i++;
  return i > 0 && i < n && p[i] == ' ' && n >= i + 8 && memcmp(p + n - 7, "SIP/2.0", 7) == 0
         && memcmp(p, "SIP/", 4) != 0;
}

int ex_sip_precheck(const char *buf, size_t len, const struct ex_limits *lim, char *why, size_t whylen)
{
  size_t i = 0, eol, next;
  int headers = 0, params = 0, values = 0, start_rc;
  const char *name = NULL; /* the current header's name, for the message */
  size_t namelen = 0;

  if (why != NULL && whylen > 0)
    why[0] = '\0';
  while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
    i++;
  buf += i;
  len -= i;
  eol = line_end(buf, 0, len, &next);
  if (memchr(buf, '\0', eol) != NULL)
    return fail(why, whylen, "the first line holds a NUL byte");
  start_rc = check_start_line(buf, eol, lim, why, whylen);
  if (start_rc == EX_CHECK_NOT_SIP && almost_request_line(buf, eol))
    start_rc = EX_CHECK_BAD_START_LINE; /* the header limits below still apply */
  else if (start_rc != EX_CHECK_OK)
    return start_rc;

  for (i = next; i < len; i = next) {
    int quoted = 0, angle = 0;
    size_t j;
    eol = line_end(buf, i, len, &next);
    if (eol == i)
      break; /* the empty line: the body follows and is not ours to look at */
    if (buf[i] == ' ' || buf[i] == '\t') {
      if (name == NULL)
        return fail(why, whylen, "a folded line follows the start line");
    } else {
      if (++headers > lim->max_headers)
      {
        if (why != NULL && whylen > 0)
          snprintf(why, whylen, "the message has more than %d header lines (EXOSIP_CORE_OPT_MAX_HEADERS)",
                   lim->max_headers);
        return EX_CHECK_HEADERS;
      }
      name = buf + i;
      namelen = 0;
      while (i + namelen < eol && buf[i + namelen] != ':' && buf[i + namelen] != ' ' && namelen < 64)
        namelen++;
      params = 0;
      values = 1;
    }
    for (j = i; j < eol; j++) {
      char ch = buf[j];
      if (quoted) {
        if (ch == '\\' && j + 1 < eol)
          j++;
        else if (ch == '"')
          quoted = 0;
        continue;
      }
      switch (ch) {
      case '\0':
        return fail(why, whylen, "a header line holds a NUL byte");
      case '"':
        quoted = 1;
        break;
      case '<':
        angle = 1;
        break;
      case '>':
        angle = 0;
        break;
      case ';':
        if (++params > lim->max_params) {
          if (why != NULL && whylen > 0)
            snprintf(why, whylen, "header %.*s has more than %d parameters (EXOSIP_CORE_OPT_MAX_PARAMS)",
                     (int) namelen, name, lim->max_params);
          return EX_CHECK_PARAMS;
        }
        break;
      case ',':
        if (!angle && ++values > lim->max_header_values) {
          if (why != NULL && whylen > 0)
            snprintf(why, whylen,
                     "header %.*s has more than %d comma-separated values (EXOSIP_CORE_OPT_MAX_HEADER_VALUES)",
                     (int) namelen, name, lim->max_header_values);
          return EX_CHECK_VALUES;
        }
        break;
      default:
        break;
      }
    }
  }
  return start_rc;
}

EXOSIP_API int eXosip_core_sip_precheck(const char *buf, size_t len, char *why, size_t whylen)
{
  struct ex_limits lim;
  if (buf == NULL)
    return OSIP_BADPARAMETER;
  ex_limits_defaults(&lim);
  return ex_sip_precheck(buf, len, &lim, why, whylen) == EX_CHECK_OK ? OSIP_SUCCESS : OSIP_SYNTAXERROR;
}

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

/* Case-insensitive "content-type" at p[i..end). */
static int content_type_at(const char *p, size_t i, size_t end)
{
  return end - i >= 12 && (p[i] == 'c' || p[i] == 'C') && strncasecmp(p + i, "content-type", 12) == 0;
}

/*
 * A multipart body whose part carries two Content-Type lines. oSIP2 (5.3) parses each part's
 * header lines into one content_type slot and, on a second Content-Type, overwrites the slot
 * without freeing what it held: every such message leaks about 70 bytes, so a stream of them
 * exhausts memory. Such a part breaks RFC 2045 (one Content-Type per entity), so the message is
 * refused here, before oSIP2 sees it.
 *
 * oSIP2 looks for "--" boundary anywhere in the body (not only at the start of a line); a part's
 * header lines run from just after that occurrence to the first empty line. So "content-type" is
 * counted, case-insensitively and anywhere in a line (which also catches folded or mid-line
 * starts), from each boundary occurrence to the next empty line, and two in one such stretch
 * refuse the message; Content-Type lines in a part's body (after its empty line) are not counted.
 * Only an empty line ends a stretch, never a boundary, so a stretch here always contains the one
 * oSIP2 would read. When the boundary cannot be read with certainty here (none, quoted, or named
 * twice), every run of lines between empty lines counts: the check errs towards refusing.
 */
static int multipart_part_headers_ok(const char *body, size_t len, const char *bnd, size_t bndlen)
{
  size_t i = 0;
  int count = 0, in_headers = bnd == NULL;
  while (i < len) {
    char ch = body[i];
    if (bnd != NULL && ch == '-' && len - i >= bndlen + 2 && body[i + 1] == '-'
        && memcmp(body + i + 2, bnd, bndlen) == 0) {
      in_headers = 1;
      i += bndlen + 2;
      continue;
    }
    if (ch == '\r' || ch == '\n') {
      /* a line break followed by another one is an empty line: the end of a part's headers */
      size_t j = i + ((ch == '\r' && i + 1 < len && body[i + 1] == '\n') ? 2 : 1);
      if (j < len && (body[j] == '\r' || body[j] == '\n')) {
        count = 0;
        in_headers = bnd == NULL;
      }
      i = j;
      continue;
    }
    if (in_headers && content_type_at(body, i, len) && ++count > 1)
      return 0;
    i++;
  }
  return 1;
}

/* The value of a Content-Type (or compact "c") header line p[i..eol), or NULL. */
static const char *content_type_value(const char *p, size_t i, size_t eol, size_t *vlen)
{
  size_t n = i;
  while (n < eol && p[n] != ':' && p[n] != ' ' && p[n] != '\t')
    n++;
  if (!((n - i == 12 && strncasecmp(p + i, "content-type", 12) == 0)
        || (n - i == 1 && (p[i] == 'c' || p[i] == 'C'))))
    return NULL;
  while (n < eol && (p[n] == ' ' || p[n] == '\t'))
    n++;
  if (n >= eol || p[n] != ':')
    return NULL;
  *vlen = eol - n - 1;
  return p + n + 1;
}

/* In a Content-Type value: whether it names a multipart type (anywhere, to err towards checking),
 * and its boundary parameter: an unquoted ";boundary=" value up to ';', white space or the end,
 * or NULL when there is none, it is quoted, or the parameter is there twice. */
static int multipart_boundary(const char *v, size_t vlen, const char **bnd, size_t *bndlen)
{
  size_t i, k, b, found = 0;
  int multipart = 0;
  *bnd = NULL;
  *bndlen = 0;
  for (i = 0; i + 9 <= vlen; i++)
    if (strncasecmp(v + i, "multipart", 9) == 0) {
      multipart = 1;
      break;
    }
  if (!multipart)
    return 0;
  for (i = 0; i + 8 <= vlen; i++) {
    if (strncasecmp(v + i, "boundary", 8) != 0)
      continue;
    for (b = i; b > 0 && (v[b - 1] == ' ' || v[b - 1] == '\t'); b--)
      ;
    if (b == 0 || v[b - 1] != ';')
      continue; /* not a parameter name */
    if (found++ > 0) { /* the parameter twice: which one oSIP2 takes is not ours to guess */
      *bnd = NULL;
      *bndlen = 0;
      break;
    }
    k = i + 8;
    while (k < vlen && (v[k] == ' ' || v[k] == '\t'))
      k++;
    if (k >= vlen || v[k] != '=')
      continue;
    k++;
    while (k < vlen && (v[k] == ' ' || v[k] == '\t'))
      k++;
    b = k;
    while (k < vlen && v[k] != ';' && v[k] != ' ' && v[k] != '\t')
      k++;
    if (k > b && v[b] != '"') {
      *bnd = v + b;
      *bndlen = k - b;
    }
  }
  return 1;
}

/* The bytes the scan of a header line stops at; all others are skipped by one table look-up each.
 * Outside a quoted string: NUL, quote, angle brackets, ';', ',' and the line breaks; inside one:
 * the backslash, the closing quote and the line breaks (a line ends at its first CR or LF, as in
 * line_end, and a quoted string does not run past it). */
static const unsigned char stop_plain[256] = {
  ['\0'] = 1, ['"'] = 1, ['<'] = 1, ['>'] = 1, [';'] = 1, [','] = 1, ['\r'] = 1, ['\n'] = 1,
};
static const unsigned char stop_quoted[256] = {
  ['\\'] = 1, ['"'] = 1, ['\r'] = 1, ['\n'] = 1,
};

int ex_sip_precheck(const char *buf, size_t len, const struct ex_limits *lim, char *why, size_t whylen)
{
  size_t i = 0, eol, next;
  int headers = 0, params = 0, values = 0, start_rc;
  const char *name = NULL; /* the current header's name, for the message */
  size_t namelen = 0;
  const char *ctype = NULL, *bnd = NULL; /* the first multipart Content-Type value, its boundary */
  size_t bndlen = 0;
  const unsigned char *u = (const unsigned char *) buf;

  if (why != NULL && whylen > 0)
    why[0] = '\0';
  while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
    i++;
  buf += i;
  u += i;
  len -= i;
  eol = line_end(buf, 0, len, &next);
  if (memchr(buf, '\0', eol) != NULL)
    return fail(why, whylen, "the first line holds a NUL byte");
  start_rc = check_start_line(buf, eol, lim, why, whylen);
  if (start_rc == EX_CHECK_NOT_SIP && almost_request_line(buf, eol))
    start_rc = EX_CHECK_BAD_START_LINE; /* the header limits below still apply */
  else if (start_rc != EX_CHECK_OK)
    return start_rc;

  /* One pass over the header lines: each byte is looked at once, and the end of the line is found
   * by the same scan that counts its parameters and values. */
  for (i = next; i < len; i = next) {
    int quoted = 0, angle = 0, named = 0;
    size_t j = i;
    if (buf[i] == '\r' || buf[i] == '\n') {
      line_end(buf, i, len, &next);
      break; /* the empty line: the body follows */
    }
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
      while (i + namelen < len && namelen < 64) {
        char ch = buf[i + namelen];
        if (ch == ':' || ch == ' ' || ch == '\r' || ch == '\n')
          break;
        namelen++;
      }
      params = 0;
      values = 1;
      named = 1;
    }
    for (;;) {
      if (!quoted) {
        while (j < len && !stop_plain[u[j]])
          j++;
        if (j >= len || buf[j] == '\r' || buf[j] == '\n')
          break;
        switch (buf[j]) {
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
        default: /* ',' */
          if (!angle && ++values > lim->max_header_values) {
            if (why != NULL && whylen > 0)
              snprintf(why, whylen,
                       "header %.*s has more than %d comma-separated values (EXOSIP_CORE_OPT_MAX_HEADER_VALUES)",
                       (int) namelen, name, lim->max_header_values);
            return EX_CHECK_VALUES;
          }
          break;
        }
        j++;
      } else {
        while (j < len && !stop_quoted[u[j]])
          j++;
        if (j >= len || buf[j] == '\r' || buf[j] == '\n')
          break;
        if (buf[j] == '\\') /* an escape takes the next byte, unless that ends the line */
          j += j + 1 < len && buf[j + 1] != '\r' && buf[j + 1] != '\n' ? 2 : 1;
        else {
          quoted = 0;
          j++;
        }
      }
    }
    eol = j;
    if (eol < len && buf[eol] == '\r' && eol + 1 < len && buf[eol + 1] == '\n')
      next = eol + 2;
    else
      next = eol < len ? eol + 1 : len;
    /* the first Content-Type line that names a multipart type, and its boundary */
    if (named && ctype == NULL && (buf[i] == 'c' || buf[i] == 'C')) {
      size_t vlen;
      const char *v = content_type_value(buf, i, eol, &vlen);
      if (v != NULL && multipart_boundary(v, vlen, &bnd, &bndlen))
        ctype = v;
    }
  }
  /* the body is oSIP2's to read, except for the header lines of multipart parts */
  if (ctype != NULL && i < len && !multipart_part_headers_ok(buf + next, len - next, bnd, bndlen)) {
    if (why != NULL && whylen > 0)
      snprintf(why, whylen, "a MIME part names Content-Type more than once");
    return EX_CHECK_BODY_PART;
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

/* SPDX-License-Identifier: Apache-2.0 */
/* Public API of registrations (eX_register.h). */
#include "regauth.h"

EXOSIP_API int eXosip_register_build_initial_register_withqvalue(struct eXosip_t *excontext, const char *from,
                                                                 const char *proxy, const char *contact,
                                                                 int expires, const char *qvalue,
                                                                 osip_message_t **reg)
{
  int rc;
  if (reg == NULL)
    return OSIP_BADPARAMETER;
  *reg = NULL;
  if (excontext == NULL || !excontext->initialized)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  rc = ex_register_build_initial(excontext, from, proxy, contact, expires, qvalue, reg);
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_register_build_initial_register(struct eXosip_t *excontext, const char *from,
                                                      const char *proxy, const char *contact, int expires,
                                                      osip_message_t **reg)
{
  return eXosip_register_build_initial_register_withqvalue(excontext, from, proxy, contact, expires, NULL, reg);
}

EXOSIP_API int eXosip_register_build_register(struct eXosip_t *excontext, int rid, int expires,
                                              osip_message_t **reg)
{
  struct ex_reg *r;
  int rc;
  if (reg == NULL)
    return OSIP_BADPARAMETER;
  *reg = NULL;
  if (excontext == NULL || !excontext->initialized || expires < 0)
    return OSIP_BADPARAMETER;
  ex_ctx_lock(excontext);
  r = ex_reg_by_rid(excontext, rid);
  if (r == NULL) {
    rc = OSIP_NOTFOUND;
  } else {
    struct ex_tx *w = r->tid > 0 ? ex_tx_by_tid(excontext, r->tid) : NULL;
    if (w != NULL && w->tr != NULL
        && (w->tr->state == NICT_PRE_TRYING || w->tr->state == NICT_TRYING || w->tr->state == NICT_PROCEEDING))
      rc = OSIP_WRONG_STATE; /* a REGISTER of this registration waits for its answer */
    else
      rc = ex_register_build_next(excontext, r, ex_register_floor_expires(excontext, expires), reg);
  }
  ex_ctx_unlock(excontext);
  return rc;
}

EXOSIP_API int eXosip_register_send_register(struct eXosip_t *excontext, int rid, osip_message_t *reg)
{
  struct ex_reg *r;
  int rc;
  if (excontext == NULL || !excontext->initialized) {
    osip_message_free(reg);
    return OSIP_BADPARAMETER;
  }
  ex_ctx_lock(excontext);
  r = ex_reg_by_rid(excontext, rid);
  if (r == NULL) {
    osip_message_free(reg);
    rc = OSIP_NOTFOUND;
  } else if (reg == NULL) {
    rc = ex_register_build_next(excontext, r, r->expires, &reg);
    if (rc == OSIP_SUCCESS)
      rc = ex_register_send(excontext, r, reg, 1);
  } else {
    rc = ex_register_send(excontext, r, reg, 1);
  }
  ex_ctx_unlock(excontext);
  return rc;
}

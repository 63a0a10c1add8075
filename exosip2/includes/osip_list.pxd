# SPDX-License-Identifier: Apache-2.0
# osipparser2/osip_list.h: the singly linked list that holds repeated headers and bodies.

cdef extern from "osipparser2/osip_list.h" nogil:
    ctypedef struct osip_list_t:
        void *node

    ctypedef struct osip_list_iterator_t:
        void *actual
        void **prev

    int osip_list_init(osip_list_t *li)
    int osip_list_size(const osip_list_t *li)
    int osip_list_eol(const osip_list_t *li, int pos)
    int osip_list_add(osip_list_t *li, void *element, int pos)
    void *osip_list_get(const osip_list_t *li, int pos)
    int osip_list_remove(osip_list_t *li, int pos)
    void osip_list_special_free(osip_list_t *li, void (*free_func)(void *))
    void *osip_list_get_first(const osip_list_t *li, osip_list_iterator_t *it)
    void *osip_list_get_next(osip_list_iterator_t *it)
    void *osip_list_iterator_remove(osip_list_iterator_t *it)

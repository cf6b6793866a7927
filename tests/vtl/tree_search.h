/*
 * tree_search.h - for tests that prove what is NOT on disk (a key, a
 * plaintext): the first regular file under a directory that holds a byte
 * string.
 */
#ifndef TESTS_VTL_TREE_SEARCH_H
#define TESTS_VTL_TREE_SEARCH_H

#include <stddef.h>

/* Every regular file under dir (recursively, symlinks not followed) is
 * searched for the m bytes of needle; the path of the first that holds
 * them goes into found (cap bytes), which the caller sets to "" first and
 * which stays "" when none does. */
void tree_search(const char *dir, const void *needle, size_t m, char *found, size_t cap);

#endif

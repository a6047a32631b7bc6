/*
 * Copyright (C) 2026 The vboxmem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vmm-dbus-message.h"

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, no NUL. */
static size_t
utf8_sequence_length(const uint8_t *s, size_t left)
{
	uint32_t code;
	size_t length;

	if (s[0] >= 0x01 && s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		length = 2, code = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		length = 3, code = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		length = 4, code = s[0] & 0x07;
	else
		return 0;
	if (left < length)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		code = code << 6 | (s[i] & 0x3f);
	}
	if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) || code > 0x10ffff ||
	    (code >= 0xd800 && code <= 0xdfff))
		return 0;
	return length;
}

bool
vmm_dbus_is_valid_utf8(const char *string, size_t length)
{
	const uint8_t *s = (const uint8_t *)string;

	for (size_t i = 0; i < length;) {
		size_t step = utf8_sequence_length(s + i, length - i);

		if (step == 0)
			return false;
		i += step;
	}
	return true;
}

static bool
is_name_char(char c, bool allow_digit, bool allow_hyphen)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       (allow_digit && c >= '0' && c <= '9') || (allow_hyphen && c == '-');
}

bool
vmm_dbus_is_valid_object_path(const char *path, size_t length)
{
	if (length == 0 || path[0] != '/')
		return false;
	if (length == 1)
		return true;
	if (path[length - 1] == '/')
		return false;
	for (size_t i = 1; i < length; i++) {
		if (path[i] == '/') {
			if (path[i - 1] == '/')
				return false;
		} else if (!is_name_char(path[i], true, false)) {
			return false;
		}
	}
	return true;
}

/*
 * Dot-separated elements, at least @min_elements of them; an element starts
 * with a digit only if @digit_first.
 */
static bool
is_valid_dotted_name(
	const char *name, size_t length, unsigned min_elements, bool digit_first, bool allow_hyphen)
{
	unsigned elements = 1;
	bool element_start = true;

	if (length == 0 || length > VMM_DBUS_MAX_NAME_LENGTH)
		return false;
	for (size_t i = 0; i < length; i++) {
		if (name[i] == '.') {
			if (element_start)
				return false;
			elements++;
			element_start = true;
			continue;
		}
		if (!is_name_char(name[i], !element_start || digit_first, allow_hyphen))
			return false;
		element_start = false;
	}
	return !element_start && elements >= min_elements;
}

bool
vmm_dbus_is_valid_interface_name(const char *name, size_t length)
{
	return is_valid_dotted_name(name, length, 2, false, false);
}

bool
vmm_dbus_is_valid_member_name(const char *name, size_t length)
{
	return is_valid_dotted_name(name, length, 1, false, false) &&
	       memchr(name, '.', length) == NULL;
}

bool
vmm_dbus_is_valid_bus_name(const char *name, size_t length)
{
	if (length > 0 && name[0] == ':')
		return length <= VMM_DBUS_MAX_NAME_LENGTH &&
		       is_valid_dotted_name(name + 1, length - 1, 2, true, true);
	return is_valid_dotted_name(name, length, 2, false, true);
}

static bool
is_basic_type(char c)
{
	return c != '\0' && strchr("ybnqiuxtdsogh", c) != NULL;
}

/* Parses one complete type at *@position, within the nesting limits. */
static bool
parse_complete_type(
	const char *signature, size_t length, size_t *position, unsigned arrays, unsigned structs)
{
	char c;

	if (*position >= length)
		return false;
	c = signature[(*position)++];
	if (is_basic_type(c) || c == 'v')
		return true;
	if (c == 'a') {
		if (++arrays > VMM_DBUS_MAX_SIGNATURE_NESTING)
			return false;
		if (*position < length && signature[*position] == '{') {
			(*position)++;
			if (++structs > VMM_DBUS_MAX_SIGNATURE_NESTING || *position >= length ||
			    !is_basic_type(signature[(*position)++]) ||
			    !parse_complete_type(signature, length, position, arrays, structs))
				return false;
			return *position < length && signature[(*position)++] == '}';
		}
		return parse_complete_type(signature, length, position, arrays, structs);
	}
	if (c == '(') {
		if (++structs > VMM_DBUS_MAX_SIGNATURE_NESTING || *position >= length ||
		    signature[*position] == ')')
			return false;
		while (*position < length && signature[*position] != ')') {
			if (!parse_complete_type(signature, length, position, arrays, structs))
				return false;
		}
		return *position < length && signature[(*position)++] == ')';
	}
	return false;
}

bool
vmm_dbus_is_valid_signature(const char *signature, size_t length)
{
	size_t position = 0;

	if (length > VMM_DBUS_MAX_SIGNATURE_LENGTH)
		return false;
	while (position < length) {
		if (!parse_complete_type(signature, length, &position, 0, 0))
			return false;
	}
	return true;
}

bool
vmm_dbus_is_single_complete_type(const char *signature, size_t length)
{
	size_t position = 0;

	return length <= VMM_DBUS_MAX_SIGNATURE_LENGTH &&
	       parse_complete_type(signature, length, &position, 0, 0) && position == length;
}

size_t
vmm_dbus_complete_type_length(const char *signature)
{
	size_t length = 1;
	int open = 0;

	while (signature[length - 1] == 'a')
		length++;
	if (signature[length - 1] != '(' && signature[length - 1] != '{')
		return length;
	for (open = 1; open > 0; length++) {
		if (signature[length] == '(' || signature[length] == '{')
			open++;
		else if (signature[length] == ')' || signature[length] == '}')
			open--;
	}
	return length;
}

size_t
vmm_dbus_type_alignment(char type)
{
	switch (type) {
	case 'y':
	case 'g':
	case 'v':
		return 1;
	case 'n':
	case 'q':
		return 2;
	case 'x':
	case 't':
	case 'd':
	case '(':
	case '{':
		return 8;
	default:
		return 4;
	}
}

# libgpx.mk - src/ compiled once per sanitizer set into static libraries
# that the test programs link, instead of every program compiling every
# src/*.c again. Included by tests/unit/Makefile and tests/fuzz/Makefile.
#
#   $(eval $(call gpx_library,DIR,CC,CFLAGS_VARIABLE))
#
# defines, with the compiler CC and the flags in the variable named
# CFLAGS_VARIABLE (a name, since sanitizer lists hold commas):
#
#   DIR/libgpx.a           every src/*.c but the *_none.c stand-ins
#   DIR/libgpx_left_out.a  src/ as a build without GnuTLS and libcrypt has
#                          it: gpx_tls_none.c and gpx_auth_none.c instead of
#                          gpx_tls.c and gpx_auth.c (link it without
#                          -lgnutls -lcrypt)
#
# The objects are shared by both libraries and rebuilt when a header they
# include changes (the compiler's -MMD dependency files).

GPX_SRC_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../src)
GPX_SRC := $(wildcard $(GPX_SRC_DIR)/*.c)
GPX_SRC_FULL := $(filter-out %_none.c,$(GPX_SRC))
GPX_SRC_LEFT_OUT := $(filter-out $(GPX_SRC_DIR)/gpx_tls.c $(GPX_SRC_DIR)/gpx_auth.c,$(GPX_SRC))

define gpx_library
$(1)/obj/%.o: $(GPX_SRC_DIR)/%.c
	@mkdir -p $$(@D)
	$(2) $$($(3)) -MMD -MP -c -o $$@ $$<

$(1)/libgpx.a: $(patsubst $(GPX_SRC_DIR)/%.c,$(1)/obj/%.o,$(GPX_SRC_FULL))
	@rm -f $$@
	ar rcs $$@ $$^

$(1)/libgpx_left_out.a: $(patsubst $(GPX_SRC_DIR)/%.c,$(1)/obj/%.o,$(GPX_SRC_LEFT_OUT))
	@rm -f $$@
	ar rcs $$@ $$^

-include $(patsubst $(GPX_SRC_DIR)/%.c,$(1)/obj/%.d,$(GPX_SRC))
endef

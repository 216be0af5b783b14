# Builds and installs libdoor: `make`, then `make install` (as root for a
# system prefix), `make uninstall` to remove exactly what install put there.
# docs/INSTALL.md explains the layout and the version numbers.
#
#   make install PREFIX=/usr DESTDIR=/tmp/stage LIBDIR=/usr/lib64
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=
CARGO      ?= cargo
INSTALL    ?= install

# The crate's version, from the workspace Cargo.toml: 0.MINOR.PATCH.
VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\([^"]*\)"/\1/p' Cargo.toml)
# The soname's 1 is the ABI contract (illumos calls it libdoor.so.1 too);
# the file's minor and patch are the crate's, so each release has its own
# file name. door-compat/Cargo.toml's capi library version must match
# (tests/install/run.sh checks).
SOVERSION  := 1
LIBVERSION := $(SOVERSION).$(word 2,$(subst ., ,$(VERSION))).$(word 3,$(subst ., ,$(VERSION)))
SONAME     := libdoor.so.$(SOVERSION)
LIBFILE    := libdoor.so.$(LIBVERSION)

BUILD := $(or $(CARGO_TARGET_DIR),target)/release
LIB   := $(BUILD)/libdoor.so

# The headers go in their own directory, found through pkg-config's
# -I${includedir}/libdoor: <sys/stat.h> wraps the system's, and <stropts.h>,
# <thread.h> and <synch.h> are names other software probes for, so none of
# them may shadow the system's headers for programs that did not ask for
# libdoor. All of include/ installs (as cargo-c's install.include does):
# the generated door.h, sys/door.h, ucred.h, stropts.h and sys/stat.h, and
# the hand-written thread.h and synch.h, libdoor's own Solaris threads
# convenience (header-only, over pthreads), which ported door servers use.
HEADERS := $(patsubst include/%,%,$(wildcard include/*.h include/sys/*.h))
HEADERDIR := $(INCLUDEDIR)/libdoor

# The programs (each a directory under tools/ with a Makefile that builds
# it and installs it in BINDIR, finding libdoor in LIBDIR), and the
# reference pages: every man/manN/NAME.N, installed in MANDIR/manN (the
# pages' other names are links in the tree and copies once installed).
PROGRAMS := doorctl
MANPAGES := $(wildcard man/man*/*.[1-9])

man_path = $(MANDIR)/man$(patsubst .%,%,$(suffix $(1)))/$(notdir $(1))

INSTALLED := $(LIBDIR)/$(LIBFILE) $(LIBDIR)/$(SONAME) $(LIBDIR)/libdoor.so \
	$(addprefix $(HEADERDIR)/,$(HEADERS)) $(PKGCONFIGDIR)/door.pc \
	$(addprefix $(BINDIR)/,$(PROGRAMS)) $(foreach m,$(MANPAGES),$(call man_path,$(m)))

TOOLVARS = DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) BINDIR=$(BINDIR) LIBDIR=$(LIBDIR)

all:
	$(CARGO) build --release -p door-compat
	for p in $(PROGRAMS); do $(MAKE) -C tools/$$p || exit 1; done

# `make install` alone builds first if nothing was built; after a change,
# run `make` (as yourself) before `sudo make install`.
$(LIB):
	$(CARGO) build --release -p door-compat

install: $(LIB)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/$(LIBFILE)
	ln -sf $(LIBFILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libdoor.so
	for h in $(HEADERS); do $(INSTALL) -D -m 0644 include/$$h $(DESTDIR)$(HEADERDIR)/$$h || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' door.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/door.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/door.pc
	for p in $(PROGRAMS); do $(MAKE) -C tools/$$p install $(TOOLVARS) || exit 1; done
ifneq ($(MANPAGES),)
	$(foreach m,$(MANPAGES),$(INSTALL) -D -m 0644 $(m) $(DESTDIR)$(call man_path,$(m)) && ) true
endif

# Removes the files install made and the header directory (libdoor's own);
# shared directories (lib, include, pkgconfig, man3...) stay.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir $(DESTDIR)$(HEADERDIR)/sys $(DESTDIR)$(HEADERDIR) 2>/dev/null || true

# Prints a variable, for scripts: `make -s print-LIBFILE`.
print-%:
	@echo $($*)

.PHONY: all install uninstall

# ftpalg - GNU make build.
#
#   make            build ftpalgd, ftpalg and the test binaries
#   make check      every test: unit (check), fuzz corpus replay, namespace lab (root)
#   make fuzz       build the libFuzzer targets (clang) and fuzz each for FUZZ_SECONDS
#   make demo       the main job: active and passive FTP across a NAT router (root)
#   make bench      data path and control path against the kernel helper, proxy and
#                   inline engines (root)
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        the Debian package, into build/deb/
#
# Layers, and the only direction they depend on each other (an arrow: "may
# include and call"; scripts/check-layers.sh checks it in `make check`, on the
# sources' #includes and on the libraries' symbols):
#   alg/    FTP protocol core: pure code, the C library only        -> nothing
#   nat/    netfilter (libmnl, libnftnl, libnetfilter_queue): depends on nothing
#           of FTP; the only place for netfilter headers             -> nothing
#   engine/ the shared layer (gateway.c: one pinhole table, one event handler),
#           proxy engine (sockets <-> alg/), inline engine (NFQUEUE packets <->
#           alg/), alg/ decisions -> nat/; logs through a sink       -> alg/ nat/
#   daemon/ ftpalgd: config, logging, event loop, control socket     -> alg/ nat/ engine/
#   tools/  ftpalg: the admin CLI (status client, pcap doctor)       -> alg/, daemon/
#           config.h and version.h only (it reads the daemon's configuration)

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
PKG_CONFIG ?= pkg-config
WARN    = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
          -Wmissing-prototypes -Wformat=2 -Wvla -Wcast-qual -Wundef \
          -Wno-unused-parameter
ALL_CFLAGS = -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) -D_GNU_SOURCE -I. -MMD -MP
LDFLAGS ?=

NAT_PKGS  = libmnl libnftnl
NAT_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(NAT_PKGS) 2>/dev/null)
NAT_LIBS   = $(shell $(PKG_CONFIG) --libs $(NAT_PKGS) 2>/dev/null)
NFQ_PKGS   = libnetfilter_queue
NFQ_LIBS   = $(shell $(PKG_CONFIG) --libs $(NFQ_PKGS) 2>/dev/null)
PCAP_CFLAGS = $(shell $(PKG_CONFIG) --cflags libpcap 2>/dev/null)
PCAP_LIBS   = $(shell $(PKG_CONFIG) --libs libpcap 2>/dev/null || echo -lpcap)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

B = build

ALG_SRC    = $(wildcard alg/*.c)
NAT_SRC    = $(wildcard nat/*.c)
ENGINE_SRC = $(wildcard engine/*.c)
DAEMON_SRC = $(wildcard daemon/*.c)
TOOLS_SRC  = $(wildcard tools/*.c)
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)

ALG_OBJ    = $(ALG_SRC:%.c=$(B)/%.o)
NAT_OBJ    = $(NAT_SRC:%.c=$(B)/%.o)
ENGINE_OBJ = $(ENGINE_SRC:%.c=$(B)/%.o)
DAEMON_OBJ = $(DAEMON_SRC:%.c=$(B)/%.o)
TOOLS_OBJ  = $(TOOLS_SRC:%.c=$(B)/%.o)

LIBALG    = $(B)/libalg.a
LIBNAT    = $(B)/libnat.a
LIBENGINE = $(B)/libengine.a
# Everything of the daemon and the CLI but their main(), for the unit tests.
LIBDAEMON = $(B)/libdaemon.a
LIBTOOLS  = $(B)/libtools.a

UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
REPLAY_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(B)/replay/%)
FUZZ_BIN  = $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)

# Pure engine code (no system headers) that fuzz targets may use besides alg/.
FUZZ_ENGINE_SRC = engine/tcpstream.c

FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang

.PHONY: all check check-run unit-check replay-check layers-check lab-check ha-check fuzz demo bench \
        install uninstall clean deps deb

all: $(B)/ftpalgd $(B)/ftpalg $(UNIT_BIN) $(REPLAY_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(NAT_CFLAGS) $(PCAP_CFLAGS) -c $< -o $@

# alg/ must stay free of system dependencies: compiled with nothing but libc headers.
$(B)/alg/%.o: alg/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBALG): $(ALG_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; $(AR) rcs $@ $^
$(LIBNAT): $(NAT_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; $(AR) rcs $@ $^
$(LIBENGINE): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; $(AR) rcs $@ $^
$(LIBDAEMON): $(filter-out $(B)/daemon/main.o,$(DAEMON_OBJ))
	@mkdir -p $(dir $@)
	rm -f $@; $(AR) rcs $@ $^
$(LIBTOOLS): $(filter-out $(B)/tools/main.o,$(TOOLS_OBJ))
	@mkdir -p $(dir $@)
	rm -f $@; $(AR) rcs $@ $^

$(B)/ftpalgd: $(DAEMON_OBJ) $(LIBENGINE) $(LIBNAT) $(LIBALG)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(DAEMON_OBJ) $(LIBENGINE) $(LIBNAT) $(LIBALG) $(NAT_LIBS) $(NFQ_LIBS)

# ftpalg reads the daemon's configuration with the daemon's own parser.
$(B)/ftpalg: $(TOOLS_OBJ) $(B)/daemon/config.o $(LIBALG)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TOOLS_OBJ) $(B)/daemon/config.o $(LIBALG) $(PCAP_LIBS)

# The CLI without the pcap doctor and libpcap, for small routers (OpenWrt):
# its `ftpalg trace` runs $(SBINDIR)/ftpalg-trace, the full CLI, when installed.
$(B)/tools/main-notrace.o: tools/main.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DFTPALG_NO_TRACE -DFTPALG_TRACE_HELPER='"$(SBINDIR)/ftpalg-trace"' \
	    -c $< -o $@
$(B)/ftpalg-notrace: $(B)/tools/main-notrace.o $(filter-out $(B)/tools/main.o $(B)/tools/trace_%.o,$(TOOLS_OBJ)) $(B)/daemon/config.o $(LIBALG)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

$(B)/tests/%: tests/unit/%.c $(LIBTOOLS) $(LIBDAEMON) $(LIBENGINE) $(LIBNAT) $(LIBALG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) $(NAT_CFLAGS) $(PCAP_CFLAGS) -o $@ $< \
	    $(LIBTOOLS) $(LIBDAEMON) $(LIBENGINE) $(LIBNAT) $(LIBALG) \
	    $(CHECK_LIBS) $(NAT_LIBS) $(NFQ_LIBS) $(PCAP_LIBS)

# Corpus replay: the fuzz targets linked with a small main() instead of libFuzzer,
# so `make check` runs every corpus file through the real target with any compiler.
$(B)/replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(FUZZ_ENGINE_SRC) $(LIBTOOLS) $(LIBALG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PCAP_CFLAGS) -o $@ $< tests/fuzz/replay_main.c \
	    $(FUZZ_ENGINE_SRC) $(LIBTOOLS) $(LIBALG) $(PCAP_LIBS)

# fuzz_inline drives a whole inline engine (inline_new_test: no queue, no
# ctnetlink is opened), so it links engine/ and nat/ besides alg/.
$(B)/replay/fuzz_inline: tests/fuzz/fuzz_inline.c tests/fuzz/replay_main.c $(LIBENGINE) $(LIBNAT) $(LIBALG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(NAT_CFLAGS) -o $@ $< tests/fuzz/replay_main.c \
	    $(LIBENGINE) $(LIBNAT) $(LIBALG) $(NAT_LIBS) $(NFQ_LIBS)

# Test helper: a program under the systemd unit's seccomp filter (tests/lab/privsec.py).
SECCOMP_EXEC = $(B)/tests/seccomp-exec
$(SECCOMP_EXEC): tests/helpers/seccomp_exec.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(shell $(PKG_CONFIG) --libs libseccomp 2>/dev/null || echo -lseccomp)

unit-check: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

replay-check: $(REPLAY_BIN)
	@tests/run-replay.sh $(REPLAY_BIN)

# The include directions above, and no library calling into one above it.
layers-check: $(LIBALG) $(LIBNAT) $(LIBENGINE) $(LIBDAEMON) $(LIBTOOLS)
	@scripts/check-layers.sh $(B)

lab-check: all
	@tests/lab/run-lab.sh

ha-check: all
	@tests/lab/run-ha.sh

# The namespace labs `make check` runs after the unit tests, each writing
# build/results/<name>.txt; all of them need root.
LAB_SCRIPTS = tests/lab/run-lab.sh tests/lab/variants.py tests/lab/status.py \
              tests/lab/cli.sh tests/lab/package.sh tests/lab/openwrt.sh \
              tests/lab/trace/run.sh \
              tests/lab/run-inbound.sh tests/lab/run-inline.sh \
              tests/lab/privsec.py tests/lab/unit-security.sh tests/lab/lockout.py \
              tests/lab/run-attack.sh
# the pcap doctor on crafted captures (no root needed)
LAB_SCRIPTS += tests/lab/trace/crafted.sh
# configuration reload under live transfers (SIGHUP)
LAB_SCRIPTS += tests/lab/run-reload.sh
# pinholes under load, and pinholes that must not outlive their session
LAB_SCRIPTS += tests/lab/run-load.sh
# two routers, keepalived + conntrackd: failovers and failbacks (~3.5 min; alone: make ha-check)
LAB_SCRIPTS += tests/lab/run-ha.sh

# `make check` and `make demo` first install what is missing (Debian), then
# run a second make so that pkg-config sees the freshly installed libraries.
check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all $(SECCOMP_EXEC)
	@rm -rf $(B)/results; mkdir -p $(B)/results
	@st=0; \
	 tests/run-unit.sh $(UNIT_BIN) || st=1; \
	 tests/run-replay.sh $(REPLAY_BIN) || st=1; \
	 scripts/check-layers.sh $(B) || st=1; \
	 tests/run-labs.sh $(LAB_SCRIPTS) || st=1; \
	 tests/summary.sh $(B)/results || st=1; \
	 exit $$st

# libFuzzer with ASan and UBSan; FUZZ_SECONDS per target.
$(B)/fuzz/%: tests/fuzz/%.c $(ALG_SRC) $(TOOLS_SRC) $(FUZZ_ENGINE_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 -D_GNU_SOURCE -I. $(PCAP_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -o $@ $< $(ALG_SRC) $(filter-out tools/main.c,$(TOOLS_SRC)) $(FUZZ_ENGINE_SRC) $(PCAP_LIBS)

$(B)/fuzz/fuzz_inline: tests/fuzz/fuzz_inline.c $(ALG_SRC) $(ENGINE_SRC) $(NAT_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 -D_GNU_SOURCE -I. $(NAT_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -o $@ $< $(ALG_SRC) $(ENGINE_SRC) $(NAT_SRC) $(NAT_LIBS) $(NFQ_LIBS)

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	    n=$$(basename $$f); mkdir -p $(B)/fuzz-work/$$n; \
	    echo "fuzzing $$n for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        $(B)/fuzz-work/$$n tests/fuzz/corpus/$$n || exit 1; \
	done

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/lab/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@scripts/size.sh
	@tests/lab/bench.sh; b=$$?; tests/lab/bench-relay.sh; r=$$?; \
	 tests/lab/bench-inline.sh; i=$$?; tests/lab/bench-rate.sh; s=$$?; \
	 tests/lab/bench-rate.sh --split || s=1; \
	 tests/lab/bench-rate.sh --soak 300 --soak-mode proxy || s=1; \
	 tests/lab/bench-rate.sh --soak 300 --soak-mode inline || s=1; \
	 [ $$b -eq 0 ] && [ $$r -eq 0 ] && [ $$i -eq 0 ] && [ $$s -eq 0 ]

deps:
	@scripts/install-deps.sh

# The Debian package, built from a copy of the tree: build/deb/*.deb, *.changes.
deb:
	@scripts/build-deb.sh $(B)/deb

install: $(B)/ftpalgd $(B)/ftpalg
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/ftpalg $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/ftpalgd $(DESTDIR)$(SBINDIR)/ftpalgd
	install -m 0755 $(B)/ftpalg $(DESTDIR)$(SBINDIR)/ftpalg
	install -m 0644 man/ftpalgd.8 man/ftpalg.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/ftpalgd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	[ -e $(DESTDIR)$(SYSCONFDIR)/ftpalg/ftpalgd.conf ] || \
	    install -m 0644 systemd/ftpalgd.conf.example $(DESTDIR)$(SYSCONFDIR)/ftpalg/ftpalgd.conf
	sed -e 's|/usr/local/sbin|$(SBINDIR)|g' -e 's|/etc/ftpalg|$(SYSCONFDIR)/ftpalg|g' \
	    systemd/ftpalgd.service > $(DESTDIR)$(UNITDIR)/ftpalgd.service
	install -m 0644 systemd/ftpalgd.nft systemd/ftpalgd-forward.nft $(DESTDIR)$(SYSCONFDIR)/ftpalg/
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 completion/ftpalg.bash $(DESTDIR)$(BASHCOMPDIR)/ftpalg
	ln -sf ftpalg $(DESTDIR)$(BASHCOMPDIR)/ftpalgd

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ftpalgd $(DESTDIR)$(SBINDIR)/ftpalg \
	    $(DESTDIR)$(MANDIR)/man8/ftpalgd.8 $(DESTDIR)$(MANDIR)/man8/ftpalg.8 \
	    $(DESTDIR)$(MANDIR)/man5/ftpalgd.conf.5 $(DESTDIR)$(UNITDIR)/ftpalgd.service \
	    $(DESTDIR)$(BASHCOMPDIR)/ftpalg $(DESTDIR)$(BASHCOMPDIR)/ftpalgd

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

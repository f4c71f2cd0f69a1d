# spyproof — two commands do all the set-up on a fresh Debian 12 machine:
#   make demo   installs what is missing, builds the sample firmware, scans it
#   make test   runs the whole suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SPYPROOF := $(VENV)/bin/spyproof
DEMO_IMAGE := build/acme-cpe5g-5.2.1.bin
DEMO_OUT := demo-out
DEMO_AGREEMENT := examples/agreement-acme-cpe5g.toml

# command -> Debian package that provides it
DEB_TOOLS := unsquashfs:squashfs-tools mksquashfs:squashfs-tools mkimage:u-boot-tools \
  mkfs.jffs2:mtd-utils ubinize:mtd-utils mkfs.ubifs:mtd-utils mke2fs:e2fsprogs \
  debugfs:e2fsprogs cpio:cpio lz4:lz4 zstd:zstd lzop:lzop 7z:p7zip-full xz:xz-utils \
  bzip2:bzip2 gzip:gzip tar:tar zip:zip unzip:unzip openssl:openssl unar:unar \
  lziprecover:lziprecover fsck.erofs:erofs-utils simg2img:android-sdk-libsparse-utils \
  partclone.restore:partclone gcc:gcc ssh-keygen:openssh-client mkpasswd:whois dropbearkey:dropbear-bin chromium:chromium tshark:tshark tcpdump:tcpdump
DEB_LIBS := libmagic.so.1:libmagic1
# file (glob) -> Debian package, for what is not on PATH: the PostgreSQL server the
# knowledge-base tests start a throwaway cluster of (the system service stays off)
DEB_FILES := /usr/lib/postgresql/*/bin/initdb:postgresql

# benchmark-only tools: cross compilers for the planted binaries of the checks corpus;
# tcprewrite, editcap, mergecap to build the traffic benchmark's capture; GNU time (peak RSS)
BENCH_TOOLS := arm-linux-gnueabi-gcc:gcc-arm-linux-gnueabi \
  mipsel-linux-gnu-gcc:gcc-mipsel-linux-gnu aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu \
  tcprewrite:tcpreplay editcap:tshark mergecap:tshark /usr/bin/time:time

.PHONY: all deps bench-deps venv demo test bench lint schema clean
all: demo

deps:
	@missing=""; \
	for pair in $(DEB_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || [ -x /sbin/$$cmd ] || missing="$$missing $$pkg"; done; \
	for pair in $(DEB_LIBS); do lib=$${pair%%:*}; pkg=$${pair##*:}; \
	  ldconfig -p 2>/dev/null | grep -q "$$lib" || missing="$$missing $$pkg"; done; \
	for pair in $(DEB_FILES); do pat=$${pair%%:*}; pkg=$${pair##*:}; \
	  compgen -G "$$pat" >/dev/null || missing="$$missing $$pkg"; done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ *$$//'); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "spyproof needs these Debian packages; run as root:"; \
	    echo "  sudo apt-get install -y $$missing"; exit 2; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

$(DEMO_IMAGE): examples/sample-firmware/build.sh $(shell find examples/sample-firmware/rootfs 2>/dev/null)
	@mkdir -p build
	examples/sample-firmware/build.sh $@

demo: deps venv $(DEMO_IMAGE)
	@rm -rf $(DEMO_OUT)
	$(SPYPROOF) scan $(DEMO_IMAGE) --out $(DEMO_OUT) --agreement $(DEMO_AGREEMENT) ; rc=$$?; \
	echo "report: $(DEMO_OUT)/report.json, summary: $(DEMO_OUT)/summary.md (exit code $$rc: 1 = a clause failed)"; [ $$rc -le 1 ]

test: deps venv
	$(PY) -m pytest -q -p no:cacheprovider

bench-deps: deps venv
	@missing=""; \
	for pair in $(BENCH_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "the benchmarks need these Debian packages; run as root:"; \
	    echo "  sudo apt-get install -y $$missing"; exit 2; \
	  fi; \
	fi
	$(VENV)/bin/pip install -q -r benchmarks/requirements.txt

bench: bench-deps venv
	$(PY) benchmarks/run.py
	$(PY) benchmarks/checks_bench.py
	$(PY) benchmarks/vulns_bench.py
	$(PY) benchmarks/html_bench.py
	$(PY) benchmarks/tlog_bench.py --json benchmarks/_work/tlog/results.json
	$(PY) benchmarks/traffic_bench.py --json benchmarks/_work/traffic/results.json

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

schema: venv
	$(PY) -m spyproof.schema docs/schema
	$(PY) -m spyproof.equiv.schema docs/schema

clean:
	rm -rf build $(DEMO_OUT) .pytest_cache

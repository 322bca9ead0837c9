# tests/openwrt/sdk/rules.mk - the few pieces of OpenWrt's rules.mk that
# openwrt/Makefile uses, for a host build of the package in tests/lab/openwrt.sh
# (compiler: the host's; libraries: the host's, seen through a fake staging dir).
# Not OpenWrt: only its variable names and their meaning.
TMP_DIR ?= /tmp
BUILD_DIR ?= $(TMP_DIR)/build
STAGING_DIR ?= $(TMP_DIR)/staging
STAGING_DIR_HOST ?= $(TMP_DIR)/staging-host
INCLUDE_DIR := $(TOPDIR)/include
TARGET_CC ?= cc
TARGET_CFLAGS ?= -Os -pipe
TARGET_CPPFLAGS ?=
TARGET_LDFLAGS ?=
TARGET_CONFIGURE_OPTS = CC="$(TARGET_CC)" AR="ar" RANLIB="ranlib" STRIP="strip"
INSTALL_DIR := install -d -m0755
INSTALL_BIN := install -m0755
INSTALL_DATA := install -m0644
INSTALL_CONF := install -m0600

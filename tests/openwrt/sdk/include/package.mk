# tests/openwrt/sdk/include/package.mk - BuildPackage as a host build:
#   make -C openwrt TOPDIR=... OUT=DIR install-NAME
# runs Build/Prepare, Build/Compile, then Package/NAME/install into OUT/NAME
# and lists Package/NAME/conffiles in OUT/NAME.conffiles.
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
ifneq ($(filter gc-sections,$(PKG_BUILD_FLAGS)),)
TARGET_CFLAGS += -ffunction-sections -fdata-sections
TARGET_LDFLAGS += -Wl,--gc-sections
endif

.PHONY: prepare compile
prepare:
	rm -rf $(PKG_BUILD_DIR)
	$(call Build/Prepare)
compile: prepare
	$(call Build/Compile)

define BuildPackage
install-$(1): compile
	rm -rf $(OUT)/$(1) && mkdir -p $(OUT)/$(1)
	$$(call Package/$(1)/install,$(OUT)/$(1))
	: > $(OUT)/$(1).conffiles $$(foreach f,$$(Package/$(1)/conffiles),; echo $$(f) >> $(OUT)/$(1).conffiles)
endef

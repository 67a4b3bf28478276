# mk/man.mk — ksmd.conf(5) follows from the key table.
#   make man      regenerate man/ksmd.conf.5 from man/ksmd.conf.5.in + ksmd --man-keys
.PHONY: man
man: $(B)/ksmd
	$(B)/ksmd --man-keys > $(B)/keys.mdoc
	sed -e '/^@KEYS@$$/{r $(B)/keys.mdoc' -e 'd}' man/ksmd.conf.5.in > man/ksmd.conf.5

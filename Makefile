# The two commands that matter: `make run` and `make test`. Both create the venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-peers chaos venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m smsengine serve --config config/engine.toml

# an SMSC that is not ours (the npm smpp package) for the interop test, where Node.js is present
INTEROP := tests/interop/node_modules/.installed
$(INTEROP): tests/interop/package.json
	@if command -v npm >/dev/null; then \
		cd tests/interop && npm install --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the foreign-SMSC interop test will be skipped"; fi

# headless Chromium for the experiment report's browser test (tests/lab/test_report_browser.py):
# Debian's package, which playwright drives as the system browser (it never downloads one); apt's
# lists are updated once, before the first install
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the report's browser test will be skipped"

# a font with Chinese characters, so the console's screenshots show 【signatures】 and Chinese
# parameters as text rather than boxes (the pages work without it)
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
$(CJK_FONT):
	@(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei) \
		|| echo "fonts-wqy-zenhei could not be installed: Chinese text shows as boxes in screenshots"

test: $(STAMP) $(INTEROP) $(CHROMIUM) $(CJK_FONT)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/domain_bench.py
	$(PY) benchmarks/smpp_bench.py
	$(PY) benchmarks/store_bench.py
	$(PY) benchmarks/carrier_bench.py
	$(PY) benchmarks/e2e_bench.py
	$(PY) benchmarks/task_bench.py

# the engine against Debian's Kannel, end to end until the callback sink (benchmarks/peer_bench.py);
# installs kannel when missing, with a policy-rc.d for the install so the package starts no service
# (and stops one that started anyway: a stray bearerbox would share the two cores)
bench-peers: $(STAMP)
	@command -v bearerbox >/dev/null || { \
		guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1; fi; \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y kannel); rc=$$?; \
		if [ -n "$$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
		if [ -e /var/run/kannel/kannel_bearerbox.pid ]; then /etc/init.d/kannel stop; fi; \
		exit $$rc; }
	$(PY) benchmarks/peer_bench.py

# the evidence campaigns of README "Delivery guarantees", long versions (~15 min; loopback only)
chaos: $(STAMP)
	$(PY) benchmarks/chaos_crash.py
	$(PY) benchmarks/chaos_crash.py --receipts slow
	$(PY) benchmarks/chaos_carriers.py
	$(PY) benchmarks/chaos_fuzz_http.py
	$(PY) benchmarks/chaos_smpp.py

clean:
	rm -rf $(VENV) var

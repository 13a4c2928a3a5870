# sentinel — the README's two commands are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# PostgreSQL and Redis used by the second test pass (CI has both; see .ci/run).
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/sentinel_test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install demo test test-sqlite test-pg lint bench bench-pipeline clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/sentinel db upgrade
	$(BIN)/sentinel train --if-missing
	$(BIN)/sentinel seed-demo
	@echo ""
	@echo "打开 http://$(HOST):$(PORT) 登录（账号见上方）。按 Ctrl+C 停止。"
	$(BIN)/sentinel serve --host $(HOST) --port $(PORT)

# The whole suite twice: on SQLite with in-process jobs, then on the real PostgreSQL
# and Redis (tests/classifiers, the pure library that touches neither, runs once). Outside CI the second pass is skipped (with a message) when they are not
# reachable; in CI (CI=true) that is an error.
test: install test-sqlite test-pg

test-sqlite: install
	$(BIN)/pytest

test-pg: install
	@if $(BIN)/python -m tests.support.services_up "$(TEST_PG_URL)" "$(TEST_REDIS_URL)"; then \
		SENTINEL_TEST_DATABASE_URL="$(TEST_PG_URL)" SENTINEL_TEST_REDIS_URL="$(TEST_REDIS_URL)" \
		$(BIN)/pytest --ignore=tests/classifiers; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL/Redis 不可用：CI 必须在真实数据库和队列上运行测试" >&2; exit 1; \
	else \
		echo "跳过 PostgreSQL + Redis 测试：$(TEST_PG_URL) 或 $(TEST_REDIS_URL) 不可达"; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/ingest.py

bench-pipeline: install
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache

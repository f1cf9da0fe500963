"""How a value follows the CPU count or a variable (gpxconvert.variation):
classified from the reports of the config run with each input varied."""

from gpxconvert.variation import CPU_COUNTS, NUMBER_PROBE, classify, dependency, env_intents

from .helpers import report, value

DEPS = {"required": [], "cpus": 2}


def workers(n):
    return {("setting", "workers"): value(n)}


def test_a_cpu_multiple_is_a_times_cpus_plus_b():
    by_dim = {"cpu": [(n, workers(2 * n + 1)) for n in CPU_COUNTS]}
    assert dependency("setting", "workers", value(5), ["cpu"], by_dim, DEPS) == \
        {"kind": "cpu", "a": 2, "b": 1, "here": 5, "cpus": 2}


def test_anything_else_from_the_cpu_count_is_frozen():
    by_dim = {"cpu": [(n, workers(n * n)) for n in CPU_COUNTS]}
    dep = dependency("setting", "workers", value(4), ["cpu"], by_dim, DEPS)
    assert dep == {"kind": "frozen", "on": ["cpu"], "default": 4, "here": 4}


def test_the_variables_own_value():
    by_dim = {"WORKERS": [(NUMBER_PROBE, workers(int(NUMBER_PROBE))), ("3", workers(3))]}
    assert dependency("setting", "workers", value(2), ["WORKERS"], by_dim, DEPS) == \
        {"kind": "direct", "var": "WORKERS", "default": 2, "required": False}


def test_a_text_around_the_variable():
    bind = {("setting", "bind"): value([f"0.0.0.0:{NUMBER_PROBE}"])}
    by_dim = {"PORT": [(NUMBER_PROBE, bind), ("8080", {("setting", "bind"): value(["0.0.0.0:8080"])})]}
    dep = dependency("setting", "bind", value(["127.0.0.1:8000"]), ["PORT"], by_dim, DEPS)
    assert dep == {"kind": "template", "var": "PORT", "template": "0.0.0.0:%(_)", "default": ["127.0.0.1:8000"],
                   "required": False}


def test_cases_of_a_branch():
    timeout = {("setting", "timeout"): value(300)}
    by_dim = {"APP_ENV": [(NUMBER_PROBE, timeout), ("production", {("setting", "timeout"): value(60)}),
                          ("staging", timeout)]}
    assert dependency("setting", "timeout", value(300), ["APP_ENV"], by_dim, DEPS) == \
        {"kind": "cases", "var": "APP_ENV", "cases": [["production", 60]], "default": 300}


def test_one_value_whenever_set():
    on = {("env", "CLEANUP_DB_FILES"): ["del", None]}
    by_dim = {"CI": [(NUMBER_PROBE, on), ("true", on)]}
    assert dependency("env", "CLEANUP_DB_FILES", ["setdefault", "true"], ["CI"], by_dim, DEPS) == \
        {"kind": "any", "var": "CI", "value": ["del", None], "default": ["setdefault", "true"]}


def test_two_inputs_at_once_are_frozen():
    dep = dependency("setting", "workers", value(2), ["A", "B"], {}, DEPS)
    assert dep == {"kind": "frozen", "on": ["A", "B"], "default": 2, "here": 2}


def test_a_variable_the_config_needs_keeps_only_its_own_value():
    by_dim = {"WORKERS": [(NUMBER_PROBE, workers(int(NUMBER_PROBE))), ("3", workers(3))]}
    deps = {**DEPS, "required": ["WORKERS"]}
    assert dependency("setting", "workers", value(2), ["WORKERS"], by_dim, deps)["required"] is True


def test_the_last_operation_on_each_variable():
    rep = report(env_ops=[("setdefault", "A", "1"), ("set", "A", "2"), ("del", "B", None)])
    rep["env_changed"]["C"] = "3"  # changed without an operation seen (os.putenv, say)
    assert env_intents(rep) == {"A": ["set", "2"], "B": ["del", None], "C": ["set", "3"]}


def test_classify_keeps_what_varied_only():
    base = report({"workers": 2, "timeout": 30})
    more = report({"workers": 3, "timeout": 30})
    settings, env = classify(base, [(("WORKERS", "3"), more), (("WORKERS", NUMBER_PROBE), base)], DEPS)
    assert env == {}
    assert list(settings) == ["workers"]
    assert settings["workers"]["kind"] == "cases"

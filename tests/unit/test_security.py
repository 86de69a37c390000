"""Security properties of the repository itself: no secret is committed, `.env` cannot be, the compose stack runs
Airflow as a non-root user, and models are stored in XGBoost's native format (a pickle is code, not data: loading
one runs whatever it was built to run, so a registry that stores pickles lets anyone who can write a model run code
on every worker and scorer that loads it).

The HTTP side (every route refuses requests without a login) needs a running api-server: tests/browser/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MAX_SCAN_BYTES = 2_000_000  # lock files and data blobs above this are not where someone pastes a key

# ------------------------------------------------------------------------------------------------- the secret scanner

# Patterns that are secrets wherever they appear (the shape alone gives them away).
ANYWHERE: dict[str, re.Pattern[str]] = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key['\"]?\s*[:=]\s*['\"]?(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
    ),
    "private key block": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"),
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
}
# A Fernet key is 32 random bytes in url-safe base64 (44 characters ending in `=`): only meaningful next to a
# fernet/secret-ish name in a config file, so it is matched as an assignment there.
FERNET = re.compile(r"(?i)fernet[a-z_]*['\"]?\s*[:=]\s*['\"]?(?P<value>[A-Za-z0-9_-]{43}=)")
# `password = "…"`, `SECRET_KEY: …`, `api_key=…`: a literal value assigned to a secret-looking name.
ASSIGNMENT = re.compile(
    r"""(?ix)
    (?<![\w${.-])  # a name of its own, not the variable inside a `${NAME:?…}` reference
    (?P<name>[a-z0-9_.-]*(?:password|passwd|secret|api_?key|private_?key|auth_?token|basic_auth)[a-z0-9_]*)
    ['"]?\s*(?::|=)\s*
    (?P<quote>['"]?)(?P<value>[^\s'"#,)}]*)
    """
)
# Names that hold where a secret is (a file, a command that prints it), not the secret itself.
NOT_A_VALUE_SUFFIXES = ("_file", "_path", "_dir", "_cmd")
# Files where a `name = value` line is configuration: .env-like, YAML, Python, TOML/INI, shell, Docker, and the
# Markdown docs (whose code blocks get copied into shells).
ASSIGNMENT_FILES = re.compile(r"(^|/)(\.env[^/]*|Dockerfile|Makefile)$|\.(ya?ml|py|toml|ini|cfg|conf|sh|env|json|md)$")
CONFIG_FILES = re.compile(r"(^|/)(\.env[^/]*|Dockerfile)$|\.(ya?ml|toml|ini|cfg|conf|env|json)$")

# Values that are obviously not secrets: placeholders the user must replace, references to a variable.
PLACEHOLDER = re.compile(
    r"""(?ix)^(
        |change-me[\w.-]*|replace-with[\w.-]*|\S*change-me[\w.-]*  # .env.example's own convention
        |\$\{?[A-Za-z_][A-Za-z0-9_]*.*                             # ${VAR}, ${VAR:?…}, $VAR
        |\{\{?[A-Za-z_].*|<[^>]*>                                  # templates, format fields, <your-password>
        |\.\.\.|…|\*+|x+|none|null|true|false                       # elisions, masks, literals
    )$""",
)
# Literal values that are deliberately not secret, each allowed in one file only, with the reason it may stay.
ALLOWED_VALUES: dict[tuple[str, str], str] = {
    ("tests/integration/conftest.py", "testing"): "moto's in-process fake S3 accepts any key; 'testing' is moto's "
    "documented dummy credential, and the same value is never a real AWS secret (those are 40 characters)",
    ("tests/unit/test_pii.py", "from-the-connection"): "a throwaway Airflow connection in a private AIRFLOW_HOME: "
    "the test proves the connection's password becomes the personal-data key and is masked in logs",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.excerpt}"


def _redact(text: str) -> str:
    """Never print a found secret whole into a CI log: keep its first characters, which are enough to find it."""
    text = text.strip()
    return text[:24] + "…" if len(text) > 24 else text


def _literal_secret(path: str, value: str) -> bool:
    return not (PLACEHOLDER.match(value) or (path, value) in ALLOWED_VALUES)


def scan_text(path: str, text: str) -> list[Finding]:
    """Every secret-looking thing in one file's text; `path` decides which assignment rules apply."""
    findings = []
    assignments = bool(ASSIGNMENT_FILES.search(path))
    config = bool(CONFIG_FILES.search(path))
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in ANYWHERE.items():
            for m in pattern.finditer(line):
                value = m.groupdict().get("value") or m.group(0)
                if not PLACEHOLDER.match(value):
                    findings.append(Finding(path, number, kind, _redact(m.group(0))))
        if config:
            findings += [Finding(path, number, "Fernet key", _redact(m.group(0))) for m in FERNET.finditer(line)]
        if assignments and not line.lstrip().startswith("#"):  # prose in comments says "secret" a lot
            for m in ASSIGNMENT.finditer(line):
                if m.group("name").lower().endswith(NOT_A_VALUE_SUFFIXES):
                    continue  # `…_PASSWORDS_FILE: /opt/…`: where a secret lives, not the secret
                if m.group("quote") == "" and path.endswith(".py"):
                    # Python: only a quoted literal is a value; `password=password` and `secret: str` are code.
                    continue
                if _literal_secret(path, m.group("value")):
                    findings.append(Finding(path, number, f"literal {m.group('name')}", _redact(m.group(0))))
    return findings


def _tracked_files() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, timeout=30, check=False)
    if out.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {out.stderr.decode(errors='replace').strip()}")
    return [p for p in out.stdout.decode().split("\0") if p]


def _read_text(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_SCAN_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def test_scanner_catches_planted_secrets():
    """The scan below can only pass meaningfully if it can fail: each planted example must be found."""
    # Built from pieces so this file itself does not contain the literal secrets it plants.
    akia, body = "AKIA", "ABCDEFGHIJKLMNOP"
    planted = {
        "aws_key.py": f'KEY = "{akia}{body}"',
        "aws_secret.env": "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
        "key.pem.txt": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "gh.md": "token: " + "ghp_" + "a" * 36,
        "gh_pat.sh": "export T=" + "github_pat_" + "11ABCDEFG0" * 4,
        "slack.yaml": "hook: " + "xoxb-" + "1234567890-abcdefghij",
        "jwt.txt": "Authorization: Bearer " + "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl",
        "airflow.cfg": "fernet_key = " + "x7Qm3f_Rk0sV9yLp2TzBw8NcHd4JaUe6GiKo1MnPqS0=",
        "stack.env": "POSTGRES_PASSWORD=" + "hunter2-really",
        "compose.yaml": "      MINIO_ROOT_PASSWORD: " + "s3cr3t-value",
        "settings.py": 'client(password="' + 'Tr0ub4dor&3")',
        "short.py": 'DB = {"password": "' + 'hunter2"}',
        "Makefile": "export MINIO_ROOT_PASSWORD=" + "minio123",
        "tests/other.py": 'KEYS = {"AWS_SECRET_' + 'ACCESS_KEY": "testing"}',  # allowed in one file only
    }
    for path, text in planted.items():
        assert scan_text(path, text), f"the scanner missed the secret planted in {path}: {text[:30]}…"


@pytest.mark.parametrize(
    "path, text",
    [
        (".env.example", "POSTGRES_PASSWORD=change-me-postgres"),
        (".env.example", "AIRFLOW_FERNET_KEY=replace-with-generated-fernet-key"),
        (".env.example", "FLOWER_BASIC_AUTH=admin:change-me-flower"),
        ("docker-compose.yaml", "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?see .env.example}"),
        ("x.py", "        self.username, self.password = username, password"),
        ("x.py", '            "password": self.admin_password(),'),
        ("x.py", '    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],'),
        ("tests/integration/conftest.py", 'CREDENTIALS = {"AWS_SECRET_' + 'ACCESS_KEY": "testing"}'),
        ("docker-compose.yaml", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: /opt/airflow/auth/passwords.json"),
        ("x.py", "def _token(url: str, user: str, password: str) -> str:"),
        ("README.md", '  -d \'{"username": "admin", "password": "…"}\''),
    ],
)
def test_scanner_leaves_placeholders_and_code_alone(path, text):
    assert scan_text(path, text) == []


def test_no_secret_in_tracked_files():
    """Every tracked text file, scanned: a key in the repository is a key in every clone, fork and CI cache."""
    findings: list[Finding] = []
    scanned = 0
    for rel in _tracked_files():
        text = _read_text(ROOT / rel)
        if text is None:
            continue
        scanned += 1
        findings += scan_text(rel, text)
    assert scanned > 20, f"only {scanned} tracked text files found: is {ROOT} the checkout?"
    assert not findings, "secret-looking values in tracked files:\n" + "\n".join(map(str, findings))


def test_every_allow_list_entry_is_still_needed(monkeypatch):
    """An entry whose file no longer holds the value is a hole waiting for a real secret of the same spelling."""
    for path, value in list(ALLOWED_VALUES):
        text = _read_text(ROOT / path) or ""
        allowed = len(scan_text(path, text))
        with monkeypatch.context() as mp:
            mp.setattr(sys.modules[__name__], "ALLOWED_VALUES", {})
            assert len(scan_text(path, text)) > allowed, f"allow-list entry {path}: {value!r} matches nothing: drop it"


# ------------------------------------------------------------------------------------------------------ git-ignored


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout")
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("path", [".env", ".run/", "test-artifacts/"])
def test_local_secrets_and_outputs_are_git_ignored(path):
    """`.env` holds the real passwords; `.run/` the embedded stack's generated secrets; test-artifacts/ test logs."""
    assert _git("check-ignore", "-q", "--no-index", path).returncode == 0, f"{path} is not git-ignored"


def test_env_example_is_tracked_and_env_is_not():
    assert _git("ls-files", "--error-unmatch", ".env.example").returncode == 0, ".env.example must be tracked"
    assert _git("ls-files", "--error-unmatch", ".env").returncode != 0, ".env is tracked: remove it from git"


# ------------------------------------------------------------------------------------------------- non-root compose


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]


def _default_of(value: str) -> str:
    """`${AIRFLOW_UID:-50000}` → `50000` (what compose uses when the variable is unset); a literal stays itself."""
    m = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-(?P<default>[^}]*))?\}", value)
    if m is None:
        return value
    return m.group("default") or ""


def _uid(user: str) -> str:
    """The uid part of compose's `user: UID[:GID]`, where UID may be a `${VAR:-default}` reference."""
    m = re.fullmatch(r"(?P<uid>\$\{[^}]*\}|[^:]+)(?::.*)?", str(user))
    return _default_of(m.group("uid")) if m else ""


def _env_example_value(name: str) -> str | None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip()
    return None


def _airflow_services(services: dict[str, dict]) -> dict[str, dict]:
    """Services built from the x-airflow-common anchor: they carry its Airflow environment (the executor)."""
    return {
        name: svc
        for name, svc in services.items()
        if "build" in svc and "AIRFLOW__CORE__EXECUTOR" in (svc.get("environment") or {})
    }


# airflow-init is the one Airflow service that runs as root, as in Airflow's own docker-compose.yaml: it chowns the
# named volumes (logs, the password file) to AIRFLOW_UID, which only root can do, then exits. The test below pins
# what makes that acceptable: a one-shot (no restart, no published port) that every other service waits for.
ROOT_ONE_SHOTS = {"airflow-init": "chowns the shared volumes to AIRFLOW_UID, then exits"}


def test_airflow_services_run_as_a_non_root_uid(services):
    airflow = _airflow_services(services)
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-worker", "airflow-triggerer"} <= set(airflow)
    for name, svc in airflow.items():
        if name in ROOT_ONE_SHOTS:
            continue
        user = svc.get("user")
        assert user, f"{name} sets no user: it would run as the image's USER, set it explicitly"
        assert user == "${AIRFLOW_UID:-50000}:0", f"{name}: user {user!r}"
        uid = _uid(user)
        assert uid.isdigit() and int(uid) != 0, f"{name} runs as uid {uid!r} when AIRFLOW_UID is unset"
    documented = _env_example_value("AIRFLOW_UID")
    assert documented and documented.isdigit() and int(documented) != 0, f".env.example AIRFLOW_UID={documented}"


def test_root_one_shots_are_one_shots(services):
    for name in ROOT_ONE_SHOTS:
        svc = services[name]
        assert "restart" not in svc and "ports" not in svc, f"{name} runs as root: it must stay a one-shot"
        dependents = [
            other for other, s in services.items() if isinstance(s.get("depends_on"), dict) and name in s["depends_on"]
        ]
        assert dependents, f"nothing waits for {name}"
        for other in dependents:
            assert services[other]["depends_on"][name]["condition"] == "service_completed_successfully", other


def test_other_services_on_the_airloop_image_run_as_the_images_user(services):
    """MLflow and the model server use the same image without `user`: they run as the Dockerfile's final USER."""
    for name, svc in services.items():
        if "build" not in svc or name in ROOT_ONE_SHOTS:
            continue
        if "user" in svc:
            uid = _uid(svc["user"])
            assert uid not in ("0", "root", ""), f"{name} runs as root"


def test_dockerfile_ends_as_the_airflow_user():
    users = [
        line.split(None, 1)[1].strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip().upper().startswith("USER ")
    ]
    assert users, "the Dockerfile never sets USER"
    assert users[-1] == "airflow", f"the image's final USER is {users[-1]!r}, not airflow"


# ---------------------------------------------------------------------------------------------------- model format

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle", ".dill")


def _is_pickle(path: Path) -> bool:
    """Pickle protocol 2+ starts with PROTO (0x80) then the protocol number: catches pickles under any name."""
    with path.open("rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


@pytest.mark.slow
def test_models_are_logged_in_xgboost_native_format(tmp_path, monkeypatch, settings_for, fast_spec):
    """Train and register one version through `Registry.log_model_version` (via `steps.train`), then read back what
    MLflow stored: XGBoost's own JSON/UBJ model file, an MLmodel that says so, and no pickle anywhere."""
    import json

    import mlflow
    import xgboost as xgb

    from airloop import steps
    from airloop.contracts import Lineage, Trained
    from airloop.data.datagen import generate

    settings = settings_for(tmp_path)
    monkeypatch.chdir(tmp_path)  # MLflow puts a sqlite store's artifacts under ./mlruns
    uri = steps.land(fast_spec, settings, generate("fraud", rows=3000, seed=7), "batch-7.parquet")
    steps.process(fast_spec, settings, uri)
    result = steps.train(fast_spec, settings, Lineage(trigger="manual"))
    assert isinstance(result, Trained) and result.version == "1", result

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    model_dir = Path(mlflow.artifacts.download_artifacts(f"models:/{fast_spec.name}/1", dst_path=str(tmp_path / "m")))
    files = {p.relative_to(model_dir).as_posix(): p for p in model_dir.rglob("*") if p.is_file()}

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["xgboost"]
    assert flavor["model_format"] in ("json", "ubj"), flavor
    assert flavor["data"] in files and Path(flavor["data"]).suffix in (".json", ".ubj", ".bin"), flavor
    assert flavor.get("model_class") == "xgboost.core.Booster", flavor
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.xgboost", pyfunc  # not mlflow.pyfunc.model (a cloudpickled class)
    assert "python_model" not in pyfunc and "cloudpickle_version" not in pyfunc, pyfunc

    model_file = files[flavor["data"]]
    if flavor["model_format"] == "json":
        assert "learner" in json.loads(model_file.read_text()), "not an XGBoost JSON model"
    booster = xgb.Booster()
    booster.load_model(str(model_file))  # XGBoost's own loader reads it: no unpickling involved
    assert booster.num_boosted_rounds() > 0

    # No pickle anywhere MLflow wrote: the downloaded model and the whole local store (runs, logged models).
    everything = [p for p in tmp_path.rglob("*") if p.is_file()]
    named = [p for p in everything if p.name.lower().endswith(PICKLE_SUFFIXES) or "pickle" in p.name.lower()]
    assert not named, f"pickle files in the model store: {named}"
    by_content = [p for p in everything if p.suffix not in (".parquet", ".db") and _is_pickle(p)]
    assert not by_content, f"files that are pickles: {by_content}"

"""Check the platform module's calls of registry modules against those modules' sources
at the newest version their constraints allow, and record what they declare.

A development tool, like upstream_charts.py: Terraform cannot download modules here,
so `terraform validate` cannot run. Given local git mirrors of the module repositories
(`owner+name/repo`), it reads each module's variables at that version and writes
tests/deploy/terraform_module_inputs.json; test_terraform_modules.py then checks
offline that every input we pass is a variable the module declares and every variable
without a default is passed.

    python -m tests.deploy.terraform_modules --mirrors /work/.mirror [--write]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.deploy.deploy_helpers import REPO_ROOT, find_tool, run_tool

MODULE_DIR = REPO_ROOT / "deploy" / "terraform" / "modules" / "platform"
RECORD_FILE = Path(__file__).with_name("terraform_module_inputs.json")

PARSE = """
import json, sys, hcl2
out = {}
for path in sys.argv[1:]:
    with open(path) as handle:
        out[path] = hcl2.load(handle)
json.dump(out, sys.stdout, default=str)
"""


def parse_hcl(paths: list[Path]) -> dict[str, Any]:
    done = run_tool([find_tool("hcl2-python"), "-c", PARSE, *map(str, paths)])
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def module_calls() -> dict[str, dict[str, Any]]:
    """Our module blocks: label -> {source, version, inputs}."""
    calls: dict[str, dict[str, Any]] = {}
    for body in parse_hcl(sorted(MODULE_DIR.glob("*.tf"))).values():
        for block in body.get("module", []):
            for label, module in block.items():
                calls[unquote(label)] = {
                    "source": unquote(module["source"]),
                    "version": unquote(module.get("version", "")),
                    "inputs": sorted(k for k in module if not k.startswith("__") and k not in {"source", "version"}),
                }
    return calls


def newest_allowed(tags: list[str], constraint: str) -> str:
    """The newest vX.Y.Z tag a `~> X.Y` constraint allows."""
    match = re.fullmatch(r"~>\s*(\d+)\.(\d+)", constraint)
    assert match, f"unsupported constraint {constraint!r}"
    major, minor = int(match.group(1)), int(match.group(2))
    versions = []
    for tag in tags:
        parts = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", tag)
        if parts and int(parts.group(1)) == major and int(parts.group(2)) >= minor:
            versions.append(tuple(int(p) for p in parts.groups()))
    assert versions, f"no tag allowed by {constraint}"
    return "v" + ".".join(map(str, max(versions)))


def module_file(mirrors: Path, source: str, tag: str, filename: str) -> dict[str, Any]:
    """One .tf file of the module source at tag, parsed."""
    registry, _, subdir = source.partition("//")
    namespace, name, _provider = registry.split("/")
    mirror = mirrors / f"{namespace}+terraform-aws-{name}" / "repo"
    prefix = f"{subdir}/" if subdir else ""
    with tempfile.TemporaryDirectory() as tmp:
        text = subprocess.run(
            ["git", "-C", str(mirror), "show", f"{tag}:{prefix}{filename}"], capture_output=True, text=True, check=True
        ).stdout
        path = Path(tmp) / filename
        path.write_text(text)
        parsed: dict[str, Any] = parse_hcl([path])[str(path)]
    return parsed


def module_variables(mirrors: Path, source: str, tag: str) -> dict[str, bool]:
    """Variable name -> has a default, from the module source at tag."""
    variables: dict[str, bool] = {}
    for block in module_file(mirrors, source, tag, "variables.tf").get("variable", []):
        for label, body in block.items():
            variables[unquote(label)] = "default" in body
    return variables


def module_outputs(mirrors: Path, source: str, tag: str) -> list[str]:
    return sorted(
        unquote(label) for block in module_file(mirrors, source, tag, "outputs.tf").get("output", []) for label in block
    )


MODULE_REFERENCE = re.compile(r"\bmodule\.(\w+)\.(\w+)")


def module_references() -> set[tuple[str, str]]:
    """(module label, output) of every module.X.Y in the platform module and environments."""
    found: set[tuple[str, str]] = set()
    for path in (REPO_ROOT / "deploy" / "terraform").rglob("*.tf"):
        found |= set(MODULE_REFERENCE.findall(path.read_text()))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    record: dict[str, Any] = {}
    failed = False
    for label, call in sorted(module_calls().items()):
        registry = call["source"].partition("//")[0]
        namespace, name, _ = registry.split("/")
        mirror = args.mirrors / f"{namespace}+terraform-aws-{name}" / "repo"
        tags = subprocess.run(["git", "-C", str(mirror), "tag"], capture_output=True, text=True, check=True).stdout
        tag = newest_allowed(tags.split(), call["version"])
        variables = module_variables(args.mirrors, call["source"], tag)
        unknown = [i for i in call["inputs"] if i not in variables]
        required = [v for v, has_default in variables.items() if not has_default and v not in call["inputs"]]
        status = "ok  " if not unknown and not required else "FAIL"
        failed |= status == "FAIL"
        print(f"{status} module.{label}: {call['source']} {tag}: {len(call['inputs'])} inputs"
              + (f"; unknown {unknown}" if unknown else "") + (f"; required, not passed {required}" if required else ""))
        record[label] = {
            "source": call["source"],
            "version": call["version"],
            "checked_at": tag,
            "variables": sorted(variables),
            "required": sorted(v for v, has_default in variables.items() if not has_default),
            "outputs": module_outputs(args.mirrors, call["source"], tag),
        }
        used = sorted(output for module, output in module_references() if module == label)
        missing = [output for output in used if output not in record[label]["outputs"]]
        if missing:
            print(f"FAIL module.{label}: outputs it does not declare: {missing}")
            failed = True
    if args.write and not failed:
        RECORD_FILE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD_FILE.relative_to(REPO_ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Config keys nothing reads are errors: a misspelled namespace, section or provider setting names the key."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi_command
import pulumi_kubernetes
import pulumi_tailscale
import pytest
from pydantic.alias_generators import to_camel

from components.config.base import ConfigError
from components.config.stack import PROVIDER_KEYS
from tests.support.render import render_config
from tests.support.stacks import stack

MISSPELLED = {
    "pgdr:drill": "pgdr:drill: unknown namespace 'pgdr' (did you mean 'pg-dr'?)",
    "pg_dr:cluster": "pg_dr:cluster: unknown namespace 'pg_dr' (did you mean 'pg-dr'?)",
    "kubernetes:contxt": "kubernetes:contxt: unknown kubernetes provider setting (did you mean 'context'?)",
    "kubernets:context": "kubernets:context: unknown namespace 'kubernets' (did you mean 'kubernetes'?)",
    "tailscale:apikey": "tailscale:apikey: unknown tailscale provider setting (did you mean 'apiKey'?)",
    "command:timeout": "command:timeout: unknown command provider setting (the provider takes no stack config)",
    "pg-dr:drlll": "pg-dr:drlll: unknown key (did you mean 'drill'?)",
    "acme:owner": "acme:owner: unknown namespace 'acme' (known: pg-dr, kubernetes, tailscale, command, pulumi)",
}


@pytest.mark.parametrize("key", MISSPELLED)
def test_misspelled_keys_are_errors_with_the_nearest_known(key: str) -> None:
    config = stack()
    config[key] = {"enabled": False} if key.startswith("p") else "x"
    with pytest.raises(ConfigError) as caught:
        render_config(config)
    assert MISSPELLED[key] in str(caught.value)


def test_provider_settings_engine_keys_and_config_reference_targets_are_accepted() -> None:
    config = stack()
    config.update({"kubernetes:context": "kind", "tailscale:tailnet": "example.com", "pulumi:tags": {"team": "a"}})
    config["pg-dr:secrets"] = {"provider": "config"}
    config["pg-dr:cluster"]["roles"][0]["password"] = "config:vault:borgmatic"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "config:vault:borgmatic"
    config["vault:borgmatic"] = {"secure": "v1:AAAA"}
    assert render_config(config).resources


def _module_file(module: object, name: str) -> str:
    return (Path(module.__file__).parent / name).read_text()  # type: ignore[attr-defined]


def test_provider_setting_lists_match_the_installed_sdks() -> None:
    kubernetes = re.findall(r'__props__\.__dict__\["(\w+)"\]', _module_file(pulumi_kubernetes, "provider.py"))
    tailscale = re.findall(r"__config__\.get\w*\('(\w+)'\)", _module_file(pulumi_tailscale, "config/vars.py"))
    command = re.findall(r'__props__\.__dict__\["(\w+)"\]', _module_file(pulumi_command, "provider.py"))
    assert set(PROVIDER_KEYS["kubernetes"]) == {to_camel(k) for k in kubernetes}
    assert set(PROVIDER_KEYS["tailscale"]) == set(tailscale)
    assert set(PROVIDER_KEYS["command"]) == set(command)

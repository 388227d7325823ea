"""What the delivery scripts carry: a file's length and sha256 in the script; a secret block's on stdin only."""

from __future__ import annotations

import hashlib

from components.borgmatic.plan import PGPASS_BEGIN, PGPASS_END
from components.drill.plan import PGPASS_BEGIN as DRILL_BEGIN
from components.remote import delivery
from offline.engine import Secret, reveal
from tests.support.render import render_config
from tests.support.stacks import stack

PASSWORD = "pw:with\\back slash"


def test_a_file_script_carries_the_length_and_digest_of_its_content() -> None:
    text = "location: é\n"
    script = delivery.deliver_file("/home/u/config.yaml", text=text)
    data = text.encode()
    assert f'check_received "$work/in" {len(data)} {hashlib.sha256(data).hexdigest()}\n' in script
    removal = delivery.remove_file("/home/u/config.yaml", text=text)
    assert f'check_received "$work/in" {len(data)} {hashlib.sha256(data).hexdigest()}\n' in removal
    assert delivery.deliver_file("/home/u/config.yaml", text=text + "x") != script


def test_the_activation_hook_is_only_there_with_a_hook() -> None:
    assert "activated" not in delivery.deliver_file("/home/u/c.yaml", text="x")
    assert "activated" in delivery.deliver_file("/home/u/c.yaml", text="x", always="true")
    with_hook = delivery.deliver_file("/home/u/c.yaml", text="x", after_change="reload-it")
    assert with_hook.index("reload-it") < with_hook.index('mv -f "$work/activated" "$activated"')


def test_frame_puts_length_and_digest_in_front_of_the_block() -> None:
    block = "# BEGIN pg-dr\nh:5432:*:u:pässword\n# END pg-dr\n"
    header, rest = delivery.frame(block).split("\n", 1)
    data = block.encode()
    assert rest == block
    assert header == f"pg-dr-stdin {len(data)} {hashlib.sha256(data).hexdigest()}"


def test_each_block_has_its_own_owner_record() -> None:
    backup = delivery.deliver_pgpass("/home/u/.pgpass", PGPASS_BEGIN, PGPASS_END)
    drill = delivery.deliver_pgpass("/home/u/.pgpass", DRILL_BEGIN, "# END pg-dr drill")
    assert 'owner="$hist/owner-BEGIN-pg-dr"\n' in backup
    assert 'owner="$hist/owner-BEGIN-pg-dr-drill"\n' in drill


def test_the_pgpass_command_carries_no_digest_of_the_block() -> None:
    """The block's digest is secret-derived: it travels on the secret stdin, never in a command string."""
    config = stack(secrets={"provider": "env"})
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PGDR_PW"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PGDR_PW"
    render = render_config(config, resolve_secrets=True, environ={"PGDR_PW": PASSWORD})
    (command,) = (r for r in render.of_type("command:remote:Command") if r.name == "borgmatic-pgpass")
    stdin = command.inputs["stdin"]
    assert isinstance(stdin, Secret)
    header, block = reveal(stdin).split("\n", 1)
    digest = hashlib.sha256(block.encode()).hexdigest()
    assert header == f"pg-dr-stdin {len(block.encode())} {digest}"
    for key in ("create", "delete"):
        assert digest not in command.inputs[key]
    assert isinstance(command.inputs["triggers"][1], Secret)  # the trigger is that digest: secret too

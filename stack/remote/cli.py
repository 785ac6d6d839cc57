"""``tickerwire stack profile | test | create-topics``: remote stacks from the command line (a server has no window).

* ``profile set NAME --kafka-bootstrap HOST:PORT [--kafka-protocol …] [--influx-url …] …``: add or change a
  profile (only the options given change). Secrets are never options (a command line is visible to every
  user of the machine, and kept in shell histories): ``--secrets-from-env`` reads them from
  ``TICKERWIRE_KAFKA_PASSWORD``, ``TICKERWIRE_INFLUX_TOKEN``, ``TICKERWIRE_CATALOG_PASSWORD`` and
  ``TICKERWIRE_S3_SECRET_KEY``, ``--ask`` prompts for them without echo. They go to the OS keyring, or
  where there is none (a server, a container) to the profile's private file (0600).
* ``profile list`` / ``profile remove NAME``.
* ``test [--profile NAME] [--json]``: "Test connection" — each endpoint in plain words; exit 0 when every one
  answers, 1 otherwise.
* ``create-topics --profile NAME [--partitions N] [--replication N]``: the one way the app creates something on
  a stack it did not start — asked for, here.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import fields, replace
from typing import TextIO

from backend.bus.security import MECHANISMS, PROTOCOLS

#: Secret name -> the environment variable ``--secrets-from-env`` reads.
SECRET_ENV = {"kafka_password": "TICKERWIRE_KAFKA_PASSWORD", "influx_token": "TICKERWIRE_INFLUX_TOKEN",
              "catalog_password": "TICKERWIRE_CATALOG_PASSWORD", "s3_secret_key": "TICKERWIRE_S3_SECRET_KEY"}
COMMANDS = ("profile", "test", "create-topics")


def add_parsers(actions) -> None:
    """Add ``profile``, ``test`` and ``create-topics`` to the ``stack`` command's subparsers."""
    from backend.remote_stack import RemoteProfile

    profile = actions.add_parser("profile", help="remote stack profiles (a team's server, managed services)")
    what = profile.add_subparsers(dest="profile_command", required=True)
    set_ = what.add_parser("set", help="add or change a profile (secrets: --secrets-from-env or --ask)")
    set_.add_argument("name")
    for field in fields(RemoteProfile):
        if field.name == "name":
            continue
        option = "--" + field.name.replace("_", "-")
        if field.type in (bool, "bool"):
            set_.add_argument(option, choices=("yes", "no"), default=None)
        elif field.name == "kafka_protocol":
            set_.add_argument(option, choices=PROTOCOLS, default=None)
        elif field.name == "kafka_mechanism":
            set_.add_argument(option, choices=MECHANISMS, default=None)
        else:
            set_.add_argument(option, default=None, metavar=field.name.split("_")[-1].upper())
    secrets = set_.add_mutually_exclusive_group()
    secrets.add_argument("--secrets-from-env", action="store_true",
                         help=f"read the secrets from {', '.join(SECRET_ENV.values())} (those set)")
    secrets.add_argument("--ask", action="store_true", help="prompt for each secret (without echo)")
    what.add_parser("list", help="the profiles (no secrets)")
    remove = what.add_parser("remove", help="delete a profile and its secrets")
    remove.add_argument("name")
    test = actions.add_parser("test", help="Test connection: check each endpoint of a remote profile")
    test.add_argument("--profile", required=True)
    test.add_argument("--json", action="store_true")
    create = actions.add_parser("create-topics", help="create the pipeline's missing topics on a remote Kafka")
    create.add_argument("--profile", required=True)
    create.add_argument("--partitions", type=int, default=3)
    create.add_argument("--replication", type=int, default=3,
                        help="replicas of each partition (3 on a managed or multi-broker cluster; 1 on one broker)")


def run(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one of :data:`COMMANDS`; the exit status (2: a wrong profile or option)."""
    from backend import remote_stack
    from backend.secrets import NoKeyringError
    from backend.settings import Settings, tickerwire_home

    settings = Settings(tickerwire_home() / "settings.json")
    try:
        if args.stack_command == "profile":
            return _profile(args, settings, out)
        profile = remote_stack.find(settings, args.profile)
        secrets = remote_stack.load_secrets(profile.name)
        if args.stack_command == "test":
            return _test(profile, secrets, args.json, out)
        return _create_topics(profile, secrets, args.partitions, args.replication, out, err)
    except (remote_stack.ProfileError, NoKeyringError, KeyError) as exc:
        print(f"tickerwire stack {args.stack_command}: {exc}", file=err)
        return 2


def _profile(args, settings, out: TextIO) -> int:
    from backend import remote_stack

    if args.profile_command == "list":
        for profile in remote_stack.profiles(settings):
            print(f"{profile.name}: Kafka {profile.kafka_bootstrap} ({profile.kafka_protocol}), "
                  f"InfluxDB {profile.influx_url or '-'}", file=out)
        return 0
    if args.profile_command == "remove":
        remote_stack.remove(settings, args.name)
        remote_stack.forget_secrets(args.name)
        print(f"removed {args.name}", file=out)
        return 0
    existing = next((p for p in remote_stack.profiles(settings) if p.name == args.name), None)
    changes = {}
    for field in fields(remote_stack.RemoteProfile):
        value = getattr(args, field.name, None) if field.name != "name" else None
        if value is not None:
            changes[field.name] = value == "yes" if field.name == "run_sink" else value
    if existing is None:
        if "kafka_bootstrap" not in changes:
            raise remote_stack.ProfileError(f"a new profile needs --kafka-bootstrap HOST:PORT ({args.name!r} is new)")
        profile = remote_stack.RemoteProfile(args.name, **changes)
    else:
        profile = replace(existing, **changes)
    remote_stack.save(settings, profile)
    secrets = _secrets(args)
    if secrets:
        store = remote_stack.secret_store(profile.name)
        store.save(secrets)
        print(f"saved {profile.name}; {len(secrets)} secret(s) in {store.location()}", file=out)
    else:
        print(f"saved {profile.name}", file=out)
    return 0


def _secrets(args) -> dict[str, str]:
    if args.secrets_from_env:
        return {name: os.environ[var] for name, var in SECRET_ENV.items() if os.environ.get(var)}
    if args.ask:
        typed = {name: getpass.getpass(f"{name.replace('_', ' ')} (empty: keep): ") for name in SECRET_ENV}
        return {name: value for name, value in typed.items() if value}
    return {}


def _test(profile, secrets, as_json: bool, out: TextIO) -> int:
    from stack.remote.check import as_json as findings_json, check_profile

    findings = check_profile(profile, secrets)
    print(findings_json(findings) if as_json else "\n".join(f.line for f in findings), file=out)
    return 0 if all(f.ok for f in findings) else 1


def _create_topics(profile, secrets, partitions: int, replication: int, out: TextIO, err: TextIO) -> int:
    from backend.remote_stack import RemoteError, create_topics

    try:
        created = create_topics(profile, secrets, partitions, replication)
    except RemoteError as exc:
        print(f"tickerwire stack create-topics: {exc}", file=err)
        return 1
    print(f"created {', '.join(created)}" if created else "every topic was there already", file=out)
    return 0


"""`comms users`: the workspace's accounts from a shell on the server (trusted as admin).

The acting person in the audit log is `$COMMS_USER` (else the login name), as for every
command. A password is read from standard input when it is not a terminal (one line, for
scripts: `printf '%s\\n' "$PW" | comms users add anna --role editor`), else asked twice
without echo. No command prints a password or a hash.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from comms.cli.common import AppContext, current_actor, output_format_option, pass_app
from comms.cli.output import print_json, print_table

ROLES = ("viewer", "editor", "approver", "admin")


@click.group("users")
def users_group() -> None:
    """Accounts for the web workspace: add, list, disable, reset passwords.

    \b
    Example:
      comms users add anna --role approver --organisation politi
      comms users list
    """


def read_password(prompt: str = "Password") -> str:
    """One line from stdin when it is not a terminal, else asked twice without echo."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("no password on standard input")
        return line.rstrip("\r\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option(
    "--organisation",
    metavar="ORG",
    default=None,
    help="The organisation whose channels the user works on (default: all).",
)
@click.option("--email", metavar="E", default=None, help="Where notices to the user go.")
@click.option("--name", "display_name", metavar="TEXT", default=None, help="Full name to show.")
@click.option(
    "--sso-only", is_flag=True, help="No password: the user signs in through single sign-on."
)
@pass_app
def users_add(
    app: AppContext,
    name: str,
    role: str,
    organisation: str | None,
    email: str | None,
    display_name: str | None,
    sso_only: bool,
) -> None:
    """Create an account; the password comes from stdin or is asked twice.

    \b
    Example:
      comms users add admin --role admin
      printf '%s\\n' "$PW" | comms users add anna --role editor --organisation kommune
    """
    from comms import accounts
    from comms.store.db import session_scope

    _warn_unknown_organisation(app, organisation)
    url = app.ready_database()
    password = None if sso_only else read_password()
    with session_scope(url) as session:
        user = accounts.add_user(
            session,
            name,
            password,
            role=role,
            organisation=organisation,
            email=email,
            display_name=display_name,
            actor=current_actor(),
        )
        username = user.username
    click.echo(f"added {username} ({role}, organisation {organisation or 'all'})")


@users_group.command("list")
@output_format_option("table", "json")
@pass_app
def users_list(app: AppContext, fmt: str) -> None:
    """Every account with its role, organisation and whether it is disabled.

    \b
    Example:
      comms users list --format json
    """
    from comms import accounts
    from comms.store.db import session_scope

    with session_scope(app.ready_database()) as session:
        users = accounts.list_users(session)
    rows: list[dict[str, Any]] = [
        {
            "username": u.username,
            "role": u.role,
            "organisation": u.organisation,
            "email": u.email,
            "display_name": u.display_name,
            "disabled": u.disabled,
            "sign_in": _sign_in(u.password_hash is not None, u.oidc_subject is not None),
        }
        for u in users
    ]
    if fmt == "json":
        print_json(rows)
        return
    if not rows:
        click.echo("no users yet: comms users add NAME --role admin")
        return
    print_table(
        ["user", "role", "organisation", "email", "disabled", "sign-in"],
        [
            [
                r["username"],
                r["role"],
                r["organisation"] or "all",
                r["email"] or "",
                "yes" if r["disabled"] else "no",
                r["sign_in"],
            ]
            for r in rows
        ],
    )


def _sign_in(password: bool, sso: bool) -> str:
    return " + ".join(w for w, on in (("password", password), ("sso", sso)) if on) or "none"


@users_group.command("disable")
@click.argument("name")
@pass_app
def users_disable(app: AppContext, name: str) -> None:
    """Stop an account signing in; its open sessions end at once.

    \b
    Example:
      comms users disable anna
    """
    from comms import accounts

    click.echo(f"disabled {_apply(app, accounts.disable_user, name)}; its sessions are ended")


@users_group.command("enable")
@click.argument("name")
@pass_app
def users_enable(app: AppContext, name: str) -> None:
    """Let a disabled account sign in again.

    \b
    Example:
      comms users enable anna
    """
    from comms import accounts

    click.echo(f"enabled {_apply(app, accounts.enable_user, name)}")


def _apply(app: AppContext, change: Callable[..., None], name: str) -> str:
    """Make an accounts `change` to the account `name` as the acting person; its username."""
    from comms import accounts
    from comms.store.db import session_scope

    with session_scope(app.ready_database()) as session:
        change(session, name, actor=current_actor())
    return accounts.normalise_username(name)


@users_group.command("set-role")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--organisation", metavar="ORG", default=None, help="Default: the one it has.")
@click.option(
    "--all-organisations", is_flag=True, help="Work for every organisation (no organisation)."
)
@pass_app
def users_set_role(
    app: AppContext, name: str, role: str, organisation: str | None, all_organisations: bool
) -> None:
    """Give an account another role; its organisation stays unless changed.

    \b
    Example:
      comms users set-role anna --role approver --organisation politi
    """
    from comms import accounts
    from comms.store.db import session_scope

    if organisation and all_organisations:
        raise click.UsageError("give --organisation or --all-organisations, not both")
    _warn_unknown_organisation(app, organisation)
    with session_scope(app.ready_database()) as session:
        user = accounts.existing_user(session, name)
        if not organisation and not all_organisations:
            organisation = user.organisation  # a new role never widens the organisation by itself
        accounts.set_role(
            session, name, role=role, organisation=organisation, actor=current_actor()
        )
    click.echo(f"{accounts.normalise_username(name)} is now {role} ({organisation or 'all'})")


@users_group.command("reset-password")
@click.argument("name")
@pass_app
def users_reset_password(app: AppContext, name: str) -> None:
    """Set a new password (from stdin or asked twice); the user's sessions end at once.

    \b
    Example:
      comms users reset-password anna
    """
    from comms import accounts
    from comms.store.db import session_scope

    url = app.ready_database()
    with session_scope(url) as session:
        accounts.existing_user(session, name)  # no password is asked for no account
    password = read_password("New password")
    with session_scope(url) as session:
        accounts.reset_password(session, name, password, actor=current_actor())
    click.echo(f"new password set for {accounts.normalise_username(name)}; its sessions are ended")


def _warn_unknown_organisation(app: AppContext, organisation: str | None) -> None:
    """A typo in --organisation would lock the user out of every channel: say so."""
    if not organisation:
        return
    known = {c.organisation for c in app.settings.channels.values() if c.organisation}
    if organisation not in known:
        listed = ", ".join(sorted(known)) or "none yet"
        click.echo(
            f"warning: no channel belongs to organisation {organisation!r} (configured: {listed})",
            err=True,
        )


def register(cli: click.Group) -> None:
    cli.add_command(users_group)

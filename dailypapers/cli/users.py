"""``dailypapers user``: create an account (the first admin, say) or change its role."""

from __future__ import annotations

import click

from dailypapers import jobs
from dailypapers.cli.support import session_factory, settings_of, upgrade_schema
from dailypapers.db import session_scope


@click.group("user")
def user_group() -> None:
    """Accounts: create one (e.g. the first admin) or change a role."""


@user_group.command("create")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option(
    "--role", type=click.Choice(["user", "moderator", "admin"]), default="user", show_default=True
)
@click.password_option(help="Password (prompted twice when not given).")
@click.pass_context
def user_create(ctx: click.Context, username: str, email: str, role: str, password: str) -> None:
    """Create a verified account (no mail is sent)."""
    from dailypapers.accounts import AccountFormError, create_user

    settings = settings_of(ctx)
    upgrade_schema(settings)
    with session_factory(settings) as factory, session_scope(factory) as session:
        try:
            created = create_user(
                session,
                settings,
                username=username,
                email=email,
                password=password,
                role=role,
                now=jobs.utc_clock(),
            )
        except AccountFormError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"created {created.username} ({created.role})")


@user_group.command("promote")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["user", "moderator", "admin"]),
    default="moderator",
    show_default=True,
)
@click.pass_context
def user_promote(ctx: click.Context, username: str, role: str) -> None:
    """Give an account a role (moderator, admin, or back to user)."""
    from dailypapers.accounts import set_role

    settings = settings_of(ctx)
    upgrade_schema(settings)
    with session_factory(settings) as factory, session_scope(factory) as session:
        try:
            changed = set_role(session, username, role)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"{changed.username} is now {changed.role}")

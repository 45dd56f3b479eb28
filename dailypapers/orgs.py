"""Organizations: create, invite, accept, leave, name owners (services: they take a session and
never commit). An organization's name follows the username rules."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers.accounts import AccountFormError, check_username
from dailypapers.models import Org, OrgMember, User

OWNER, MEMBER, INVITED = "owner", "member", "invited"
# Names that are pages of /orgs/ itself: an organization so named could never be reached.
RESERVED_NAMES = frozenset({"new"})


def create_org(session: Session, user: User, name: str, fullname: str, now: dt.datetime) -> Org:
    """A new organization owned by ``user``; the name follows the username rules."""
    try:
        slug = check_username(name)
    except ValueError as exc:
        raise AccountFormError({"name": str(exc)}) from None
    if slug in RESERVED_NAMES:
        raise AccountFormError({"name": f"{slug!r} is a page of the site; choose another name."})
    if session.scalar(select(Org.id).where(Org.name == slug)) is not None:
        raise AccountFormError({"name": "An organization has this name."})
    org = Org(name=slug, fullname=" ".join(fullname.split())[:200], created_at=now)
    session.add(org)
    session.flush()
    session.add(OrgMember(org_id=org.id, user_id=user.id, role=OWNER))
    return org


def org_role(session: Session, org: Org, user: User | None) -> str | None:
    if user is None:
        return None
    member = session.get(OrgMember, (org.id, user.id))
    return member.role if member is not None else None


def invite_to_org(session: Session, owner: User, org: Org, username: str) -> User:
    if org_role(session, org, owner) != OWNER:
        raise AccountFormError({"username": "Only owners can invite."})
    invitee = session.scalar(select(User).where(User.username == username.strip().lower()))
    if invitee is None or invitee.is_external:
        raise AccountFormError({"username": f"No account is named {username.strip()!r}."})
    if session.get(OrgMember, (org.id, invitee.id)) is None:
        session.add(OrgMember(org_id=org.id, user_id=invitee.id, role=INVITED))
    return invitee


def accept_org_invite(session: Session, user: User, org: Org) -> None:
    member = session.get(OrgMember, (org.id, user.id))
    if member is None or member.role != INVITED:
        raise AccountFormError({"org": "You have no invitation to this organization."})
    member.role = MEMBER


def leave_org(session: Session, user: User, org: Org) -> None:
    """Leave (or decline an invitation). The last owner cannot leave while others remain."""
    member = session.get(OrgMember, (org.id, user.id))
    if member is None:
        raise AccountFormError({"org": "You are not in this organization."})
    if member.role == OWNER:
        owners = session.scalar(
            select(func.count())
            .select_from(OrgMember)
            .where(OrgMember.org_id == org.id, OrgMember.role == OWNER)
        )
        others = session.scalar(
            select(func.count())
            .select_from(OrgMember)
            .where(OrgMember.org_id == org.id, OrgMember.user_id != user.id)
        )
        if owners == 1 and others:
            raise AccountFormError({"org": "Invite another owner before you leave."})
    session.delete(member)


def make_org_owner(session: Session, owner: User, org: Org, username: str) -> None:
    if org_role(session, org, owner) != OWNER:
        raise AccountFormError({"username": "Only owners can name owners."})
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    member = session.get(OrgMember, (org.id, user.id)) if user is not None else None
    if member is None or member.role == INVITED:
        raise AccountFormError({"username": "Only members can become owners."})
    member.role = OWNER

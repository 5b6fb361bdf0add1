"""Issue 12 §2: an email sent with the profile. The current one changes nothing; another one
starts a verified change (a link to the new address), applied by
`POST /api/auth/confirm-email-change`, which tells the old address and ends every sign-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from peal.auth.models import OneTimeToken
from peal.config import Settings
from peal.core.security import hash_token
from peal.db import utcnow
from peal.settings.models import UserSettings
from peal.users.models import User
from tests.auth.conftest import body_text, link_token, new_email
from tests.conftest import AuthedUser, Mailbox
from tests.test_ratelimit import backend, client_from, limited_app  # noqa: F401 - fixtures
from tests.users.conftest import Sql

CONFIRM = "/api/auth/confirm-email-change"


async def _change(
    client: httpx.AsyncClient, user: AuthedUser, email: str, **profile: Any
) -> httpx.Response:
    return await client.put(
        f"/api/users/{user.id}", headers=user.headers, json={"email": email, **profile}
    )


async def _link(client: httpx.AsyncClient, mailbox: Mailbox, user: AuthedUser, email: str) -> str:
    """Ask for a change to `email` and give the token of the link it was sent."""
    response = await _change(client, user, email)
    assert response.status_code == 200, response.text
    await mailbox.wait()
    messages = mailbox.to(email)
    assert messages, "no confirmation email"
    return link_token(messages[-1], "confirm-email-change")


async def _stored_email(sql: Sql, user: AuthedUser) -> str:
    email: str = await sql.scalar(select(User.email).where(User.id == user.id))
    return email


# --- the settings page sends the current email -------------------------------------------------


@pytest.mark.parametrize("spelling", [str.upper, lambda e: f"  {e.title()} ", str])
async def test_the_current_email_is_accepted_silently(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    mailbox: Mailbox,
    sql: Sql,
    spelling: Callable[[str], str],
) -> None:
    response = await _change(client, woman, spelling(woman.email), name="Amara Renamed")

    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["name"] == "Amara Renamed"
    assert user["email"] == woman.email
    assert user["pendingEmail"] is None
    await mailbox.wait()
    assert mailbox.messages() == []
    assert await sql.scalars(select(OneTimeToken).where(OneTimeToken.user_id == woman.id)) == []


async def test_the_current_email_is_accepted_even_when_the_validator_would_refuse_it(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    # An address from before the validator (an admin made by the CLI on a `.local` host).
    admin: AuthedUser = await make_user("admin", email="root@peal.local")
    response = await _change(client, admin, "root@peal.local", bio="Runs the place")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["bio"] == "Runs the place"


# --- a new address starts a verified change ---------------------------------------------------


async def test_a_new_email_sends_a_link_to_it_and_changes_nothing_yet(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    mailbox: Mailbox,
    sql: Sql,
    settings: Settings,
) -> None:
    woman: AuthedUser = await make_user(name="Grace <b>Mensah</b>")
    new = new_email()

    response = await _change(client, woman, new.upper(), bio="Still me")

    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["email"] == woman.email
    assert user["pendingEmail"] == new
    assert user["bio"] == "Still me"
    assert await _stored_email(sql, woman) == woman.email
    await mailbox.wait()
    assert mailbox.to(woman.email) == []
    (message,) = mailbox.to(new)
    assert message["Subject"] == "Confirm your new email address for PEAL"
    text = body_text(message)
    assert f"{settings.frontend_url}/confirm-email-change?token=" in text
    assert "24 hours" in text
    assert "<b>Mensah</b>" not in body_text(message, "html")  # autoescaped
    token = link_token(message, "confirm-email-change")
    stored = (await sql.scalars(select(OneTimeToken).where(OneTimeToken.user_id == woman.id)))[0]
    assert (stored.purpose, stored.new_email) == ("change_email", new)
    assert stored.token_hash == hash_token(token)  # stored hashed
    assert abs((stored.expires_at - stored.created_at) - timedelta(hours=24)) < timedelta(seconds=2)


async def test_the_pending_email_is_shown_to_the_owner_and_admins_only(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    mailbox: Mailbox,
) -> None:
    new = new_email()
    await _link(client, mailbox, woman, new)

    me = (await client.get("/api/auth/me", headers=woman.headers)).json()["user"]
    assert (me["email"], me["pendingEmail"]) == (woman.email, new)
    mine = (await client.get(f"/api/users/{woman.id}", headers=woman.headers)).json()["user"]
    assert mine["pendingEmail"] == new
    as_admin = (await client.get(f"/api/users/{woman.id}", headers=admin.headers)).json()
    assert as_admin["user"]["pendingEmail"] == new
    for headers in (sponsor.headers, {}):
        other = (await client.get(f"/api/users/{woman.id}", headers=headers)).json()["user"]
        assert other["pendingEmail"] is None
        assert other["email"] is None
    listed = (await client.get("/api/users", headers=sponsor.headers)).json()["data"]
    assert all(user["pendingEmail"] is None for user in listed)


async def test_the_language_of_the_account_is_used(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox, sql: Sql
) -> None:
    await sql.run(
        update(UserSettings).where(UserSettings.user_id == woman.id).values(language="fr")
    )
    new = new_email()
    await _link(client, mailbox, woman, new)
    (message,) = mailbox.to(new)
    assert message["Content-Language"] == "fr"
    assert message["Subject"] == "Confirmez votre nouvelle adresse e-mail PEAL"


async def test_someone_elses_profile_cannot_have_its_email_changed(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    mailbox: Mailbox,
    sql: Sql,
) -> None:
    new = new_email()
    visible = await client.put(
        f"/api/users/{woman.id}", headers=sponsor.headers, json={"email": new}
    )
    assert visible.status_code == 403
    assert visible.json()["code"] == "not_owner"
    private: AuthedUser = await make_user(is_public=False)
    hidden = await client.patch(
        f"/api/users/{private.id}", headers=sponsor.headers, json={"email": new}
    )
    assert hidden.status_code == 404
    anonymous = await client.put(f"/api/users/{woman.id}", json={"email": new})
    assert anonymous.status_code == 401
    await mailbox.wait()
    assert mailbox.messages() == []
    assert await sql.scalars(select(OneTimeToken)) == []


async def test_an_admin_starts_the_change_for_the_user(
    client: httpx.AsyncClient, woman: AuthedUser, admin: AuthedUser, mailbox: Mailbox
) -> None:
    new = new_email()
    response = await client.patch(
        f"/api/users/{woman.id}", headers=admin.headers, json={"email": new}
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["pendingEmail"] == new
    await mailbox.wait()
    assert len(mailbox.to(new)) == 1


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "amara@", "@example.com", "a" * 245 + "@example.com", "amara@localhost"],
)
async def test_an_invalid_new_email_is_422(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox, email: str
) -> None:
    response = await _change(client, woman, email)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["details"][0]["field"] == "email"
    await mailbox.wait()
    assert mailbox.messages() == []


async def test_a_null_email_is_422(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.put(
        f"/api/users/{woman.id}", headers=woman.headers, json={"email": None}
    )
    assert response.status_code == 422


async def test_an_address_of_another_account_is_409_and_nothing_is_written(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    mailbox: Mailbox,
    sql: Sql,
) -> None:
    response = await _change(client, woman, sponsor.email.upper(), name="Changed Name")

    assert response.status_code == 409
    # What registration says of a taken address, and no more.
    assert response.json() == {
        "error": "An account with this email already exists",
        "code": "email_taken",
    }
    name = await sql.scalar(select(User.name).where(User.id == woman.id))
    assert name == "Amara Woman"  # the whole update failed
    await mailbox.wait()
    assert mailbox.messages() == []


async def test_a_google_only_account_must_set_a_password_first(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox, sql: Sql
) -> None:
    # Made by Google sign-in: no password; Google finds the account by its email.
    await sql.run(update(User).where(User.id == woman.id).values(password_hash=None))
    google_only = woman
    unchanged = await _change(client, google_only, google_only.email)
    assert unchanged.status_code == 200

    response = await _change(client, google_only, new_email())

    assert response.status_code == 409
    assert response.json()["code"] == "password_required"
    await mailbox.wait()
    assert mailbox.messages() == []


# --- confirming --------------------------------------------------------------------------------


async def test_confirming_applies_the_change_and_tells_the_old_address(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    mailbox: Mailbox,
    sql: Sql,
    settings: Settings,
) -> None:
    old = woman.email
    new = new_email().replace("amara", "grace")
    token = await _link(client, mailbox, woman, new)

    response = await client.post(CONFIRM, json={"token": token})

    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert (user["email"], user["emailVerified"], user["pendingEmail"]) == (new, True, None)
    assert await _stored_email(sql, woman) == new
    await mailbox.wait()
    (notice,) = mailbox.to(old)
    assert notice["Subject"] == "The email address of your PEAL account was changed"
    text = body_text(notice)
    assert "gr***@example.com" in text  # the new address, masked
    assert new not in text
    assert settings.support_email in text
    assert "reset your password" in text
    # The old address no longer signs in, the new one does.
    assert (
        await client.post("/api/auth/login", json={"email": old, "password": woman.password})
    ).status_code == 401
    assert (
        await client.post("/api/auth/login", json={"email": new, "password": woman.password})
    ).status_code == 200


async def test_confirming_ends_every_sign_in_and_clears_the_cookies(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox
) -> None:
    login = await client.post(
        "/api/auth/login", json={"email": woman.email, "password": woman.password}
    )
    client.cookies.clear()
    session = login.json()
    token = await _link(client, mailbox, woman, new_email())

    response = await client.post(CONFIRM, json={"token": token})

    assert response.status_code == 200
    assert any(
        header.startswith("peal_access=") for header in response.headers.get_list("set-cookie")
    )
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {session['accessToken']}"}
    )
    assert me.status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh", json={"refreshToken": session["refreshToken"]}
    )
    assert refreshed.status_code == 401
    assert (await client.get("/api/auth/me", headers=woman.headers)).status_code == 401


async def test_links_sent_to_the_old_address_die_with_the_change(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox
) -> None:
    assert (
        await client.post("/api/auth/forgot-password", json={"email": woman.email})
    ).status_code == 202
    await mailbox.wait()
    reset_token = link_token(mailbox.to(woman.email)[-1], "reset-password")
    token = await _link(client, mailbox, woman, new_email())
    assert (await client.post(CONFIRM, json={"token": token})).status_code == 200

    reset = await client.post(
        "/api/auth/reset-password", json={"token": reset_token, "password": "Moonlit-Orchard-77"}
    )
    assert reset.status_code == 400


async def test_a_link_works_once(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox
) -> None:
    token = await _link(client, mailbox, woman, new_email())
    assert (await client.post(CONFIRM, json={"token": token})).status_code == 200

    again = await client.post(CONFIRM, json={"token": token})

    assert again.status_code == 400
    assert again.json()["code"] == "token_used"


async def test_an_expired_link_is_refused(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox, sql: Sql
) -> None:
    token = await _link(client, mailbox, woman, new_email())
    await sql.run(
        update(OneTimeToken)
        .where(OneTimeToken.token_hash == hash_token(token))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )

    response = await client.post(CONFIRM, json={"token": token})

    assert response.status_code == 400
    assert response.json()["code"] == "token_expired"
    assert await _stored_email(sql, woman) == woman.email
    me = (await client.get("/api/auth/me", headers=woman.headers)).json()["user"]
    assert me["pendingEmail"] is None  # an expired change is no longer pending


async def test_a_newer_request_supersedes_the_older_link(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox, sql: Sql
) -> None:
    first_address, second_address = new_email(), new_email()
    first = await _link(client, mailbox, woman, first_address)
    second = await _link(client, mailbox, woman, second_address)

    old_link = await client.post(CONFIRM, json={"token": first})
    assert old_link.status_code == 400
    assert old_link.json()["code"] == "token_used"
    new_link = await client.post(CONFIRM, json={"token": second})
    assert new_link.status_code == 200
    assert await _stored_email(sql, woman) == second_address


@pytest.mark.parametrize("token", ["forged-token", "x" * 43])
async def test_a_forged_token_is_refused(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox, token: str
) -> None:
    await _link(client, mailbox, woman, new_email())
    response = await client.post(CONFIRM, json={"token": token})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


async def test_a_token_of_another_purpose_is_refused(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox, sql: Sql
) -> None:
    await client.post("/api/auth/forgot-password", json={"email": woman.email})
    await mailbox.wait()
    reset_token = link_token(mailbox.to(woman.email)[-1], "reset-password")

    response = await client.post(CONFIRM, json={"token": reset_token})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"
    # ...and the reset link still works for what it is.
    reset = await client.post(
        "/api/auth/reset-password", json={"token": reset_token, "password": "Moonlit-Orchard-77"}
    )
    assert reset.status_code == 200


async def test_an_email_change_token_does_not_verify_or_reset(
    client: httpx.AsyncClient, woman: AuthedUser, mailbox: Mailbox
) -> None:
    token = await _link(client, mailbox, woman, new_email())
    verify = await client.post("/api/auth/verify-email", json={"token": token})
    reset = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": "Moonlit-Orchard-77"}
    )
    assert (verify.status_code, reset.status_code) == (400, 400)


async def test_an_address_taken_before_the_confirmation_is_409(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    mailbox: Mailbox,
    sql: Sql,
) -> None:
    new = new_email()
    token = await _link(client, mailbox, woman, new)
    await make_user(email=new)  # someone registers it in the meantime

    response = await client.post(CONFIRM, json={"token": token})

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert await _stored_email(sql, woman) == woman.email
    # Nothing was half-done: her sign-in lives, the old address was told nothing.
    assert (await client.get("/api/auth/me", headers=woman.headers)).status_code == 200
    await mailbox.wait()
    assert mailbox.to(woman.email) == []


@pytest.mark.committing  # its requests race each other
async def test_two_accounts_confirming_one_address_at_once_one_wins(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    mailbox: Mailbox,
    sql: Sql,
) -> None:
    # Both asked while the address was free; the unique index decides between the confirms.
    new = new_email()
    tokens = [await _link(client, mailbox, user, new) for user in (woman, sponsor)]

    answers = await asyncio.gather(*(client.post(CONFIRM, json={"token": t}) for t in tokens))

    assert sorted(answer.status_code for answer in answers) == [200, 409]
    owners = await sql.scalars(select(User.id).where(User.email == new))
    assert len(owners) == 1


@pytest.mark.committing
async def test_email_change_links_are_rate_limited(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
    woman: AuthedUser,
    mailbox: Mailbox,
) -> None:
    loose = {"rate_limit_per_minute": 1000, "auth_rate_limit_per_minute": 1000}
    async with (
        limited_app(email_change_emails_per_hour=2, **loose) as app,
        client_from(app, "198.51.100.7") as http,
    ):
        answers = [(await _change(http, woman, new_email())).status_code for _ in range(3)]
        assert answers == [200, 200, 429]
        # The current address is not a change: never counted, never refused.
        assert (await _change(http, woman, woman.email)).status_code == 200
        # One new address gets at most that many links, whoever asks.
        target = new_email()
        askers = [await make_user() for _ in range(3)]
        assert (await _change(http, askers[0], target)).status_code == 200
        assert (await _change(http, askers[1], target)).status_code == 200
        refused = await _change(http, askers[2], target)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
    await mailbox.wait()
    assert len(mailbox.to(target)) == 2

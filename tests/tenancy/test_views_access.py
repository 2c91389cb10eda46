"""Who may open what: anonymous -> login, outsider -> 404, member -> 403 on admin views."""

from __future__ import annotations

import pytest
from django.urls import reverse


def org_urls(org_slug: str, product_key: str) -> list[str]:
    return [
        reverse("organization_home", kwargs={"org_slug": org_slug}),
        reverse("explorer", kwargs={"org_slug": org_slug, "product_key": product_key}),
        reverse("settings_home", kwargs={"org_slug": org_slug}),
    ]


ADMIN_ONLY = ["settings_home"]


def test_it_sends_anonymous_visitors_to_login(client, org, product):
    for url in org_urls("acme", "app"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_it_answers_404_to_an_outsider_on_every_organization_url(charlie_client, org, product):
    for url in org_urls("acme", "app"):
        response = charlie_client.get(url)
        assert response.status_code == 404, url
        assert b"Acme" not in response.content


def test_it_answers_404_for_an_unknown_product(alice_client):
    response = alice_client.get(
        reverse("explorer", kwargs={"org_slug": "acme", "product_key": "nope"})
    )
    assert response.status_code == 404


def test_it_answers_404_for_another_organizations_product_under_my_organization(
    alice_client, other_org
):
    from vitals.tenancy.services import product_create

    product_create(organization=other_org, key="secret", name="Globex Secret")
    url = reverse("explorer", kwargs={"org_slug": "acme", "product_key": "secret"})
    assert alice_client.get(url).status_code == 404


def test_it_answers_403_to_a_member_on_admin_views(bob_client):
    response = bob_client.get(reverse("settings_home", kwargs={"org_slug": "acme"}))
    assert response.status_code == 403


def test_it_lets_the_admin_open_settings(alice_client):
    response = alice_client.get(reverse("settings_home", kwargs={"org_slug": "acme"}))
    assert response.status_code == 200
    assert b"alice@acme.test" in response.content


@pytest.mark.parametrize("who", ["alice_client", "bob_client"])
def test_it_lets_members_open_the_explorer(request, who):
    client = request.getfixturevalue(who)
    url = reverse("explorer", kwargs={"org_slug": "acme", "product_key": "app"})
    response = client.get(url)
    assert response.status_code == 200
    assert b"Acme App" in response.content


def test_it_redirects_home_to_the_first_product_of_my_organization(alice_client):
    response = alice_client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/o/acme/p/app/"

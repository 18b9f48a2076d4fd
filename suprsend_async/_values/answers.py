"""The hub's answers, typed: one ``TypedDict`` per shape the REST calls return.

Written from the response schemas (and, where a schema is left as a bare
``object``, the examples) of the hub's OpenAPI document. A REST method still
returns the plain dict the hub sent, as the official SDK does: nothing is
converted or checked at run time. The types are for mypy and editors, so
``page["meta"]["has_next"]`` is known to be a ``bool`` and ``page["meta"]["hasnext"]``
is an error.

A key the document shows in every answer of its shape is required; a key it
shows only sometimes (a channel the profile has, a field newer answers add) is
``NotRequired``, read it with ``.get()``. A value the document lists as an
enum is a ``Literal``, so a comparison with a misspelt value is flagged too.

No ``from __future__ import annotations`` here: ``TypedDict`` reads its
annotations when the class is made, to know which keys are required.
"""

import sys
from typing import Any, Generic, Literal, TypeVar

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # a generic TypedDict and NotRequired came in 3.11
    from typing_extensions import NotRequired, TypedDict

__all__ = [
    "BrandJSON",
    "CategoryChannelJSON",
    "CategoryPreferenceJSON",
    "ChannelIdentityJSON",
    "ChannelPreferenceJSON",
    "ChannelPreferencesJSON",
    "CursorMeta",
    "CursorPage",
    "DeletedJSON",
    "EventAcceptedJSON",
    "FullPreferenceJSON",
    "ListSubscriptionJSON",
    "ObjectJSON",
    "ObjectRefJSON",
    "ObjectSubscriptionJSON",
    "OffsetMeta",
    "OffsetPage",
    "Preference",
    "PreferenceSectionJSON",
    "RootCategory",
    "SocialLinksJSON",
    "SubscribedListJSON",
    "SubscriberRefJSON",
    "SubscriptionJSON",
    "SubscriptionsJSON",
    "SuccessJSON",
    "TenantCategoryJSON",
    "TenantFullPreferenceJSON",
    "TenantJSON",
    "TenantRootCategoryJSON",
    "TenantSectionJSON",
    "UserJSON",
    "UserTenantJSON",
    "UserTenantLinkJSON",
]

Item = TypeVar("Item")

#: What a category is set to: ``cant_unsubscribe`` only on tenant (default) categories.
Preference = Literal["opt_in", "opt_out", "cant_unsubscribe"]
RootCategory = Literal["system", "transactional", "promotional"]

# -- pages --------------------------------------------------------------------------------


class CursorMeta(TypedDict):
    """A cursor page's ``meta``: pass ``after`` back for the next page while ``has_next``."""

    count: int
    limit: int
    has_prev: bool
    before: str | None
    has_next: bool
    after: str | None


class CursorPage(TypedDict, Generic[Item]):
    """One page of a cursor list (users, objects, subscriptions)."""

    meta: CursorMeta
    results: list[Item]


class OffsetMeta(TypedDict):
    """An offset page's ``meta``: ``count`` items in all, this page from ``offset``."""

    count: int
    limit: int
    offset: int


class OffsetPage(TypedDict, Generic[Item]):
    """One page of an offset list (tenants, brands, preference categories)."""

    meta: OffsetMeta
    results: list[Item]


# -- what a write without a body answers ---------------------------------------------------


class DeletedJSON(TypedDict):
    """What a delete returns, as the official SDK makes it (the hub answers 204, no body)."""

    success: bool
    status_code: int


class SuccessJSON(TypedDict):
    """The bulk preference updates' answer."""

    success: bool


class EventAcceptedJSON(TypedDict):
    """``users.async_edit``'s answer, as the official SDK makes it from the hub's text."""

    success: bool
    status: str
    status_code: int
    message: str


# -- profiles: users and objects -----------------------------------------------------------


class ChannelIdentityJSON(TypedDict):
    """One identity of a channel: ``value`` is a string (an address, a token) for most
    channels, an object for ``$webpush``, ``$slack`` and ``$ms_teams``."""

    value: Any
    status: str
    perma_status: str
    id_provider: NotRequired[str]


# A profile's channels: keys start with "$", so the functional syntax.
_Channels = TypedDict(
    "_Channels",
    {
        "$email": list[ChannelIdentityJSON],
        "$sms": list[ChannelIdentityJSON],
        "$whatsapp": list[ChannelIdentityJSON],
        "$androidpush": list[ChannelIdentityJSON],
        "$iospush": list[ChannelIdentityJSON],
        "$webpush": list[ChannelIdentityJSON],
        "$slack": list[ChannelIdentityJSON],
        "$ms_teams": list[ChannelIdentityJSON],
        "$inbox": list[ChannelIdentityJSON],
    },
    total=False,
)


class UserJSON(_Channels):
    """A user profile (``users.get``, ``upsert``, ``edit``, ``merge``; a page's items)."""

    distinct_id: str
    properties: dict[str, Any]
    created_at: str
    updated_at: str


class UserTenantJSON(UserJSON):
    """A user's profile for one tenant (``users.get_for_tenant``, ``upsert_for_tenant``)."""

    tenant_id: str


class UserTenantLinkJSON(TypedDict):
    """An item of ``users.list_associated_tenants``."""

    tenant_id: str
    created_at: str
    updated_at: str


class ObjectJSON(_Channels):
    """An object (``objects.get``, ``upsert``, ``edit``; a page's items)."""

    id: str
    object_type: str
    subscriptions_count: int
    properties: dict[str, Any]
    created_at: str
    updated_at: str


class ObjectRefJSON(TypedDict):
    """An object as a subscription shows it."""

    id: str
    object_type: str
    subscriptions_count: int
    updated_at: NotRequired[str]
    properties: NotRequired[dict[str, Any]]


class SubscriberRefJSON(TypedDict):
    """A subscribed user as a subscription shows it."""

    distinct_id: str
    updated_at: NotRequired[str]


class SubscriptionJSON(TypedDict):
    """An object's subscriber: a ``user``, or a child ``object``, the other one null
    (``objects.get_subscriptions``, ``create_subscriptions``)."""

    user: NotRequired[SubscriberRefJSON | None]
    object: NotRequired[ObjectRefJSON | None]
    properties: dict[str, Any]
    created_at: str
    updated_at: str


class SubscriptionsJSON(TypedDict):
    """``objects.create_subscriptions``: the subscriptions made or updated."""

    results: list[SubscriptionJSON]


class ObjectSubscriptionJSON(TypedDict):
    """An object a user or an object is subscribed to (``get_objects_subscribed_to``)."""

    object: ObjectRefJSON
    properties: dict[str, Any]
    created_at: str
    updated_at: str


class SubscribedListJSON(TypedDict):
    list_id: str
    list_name: str
    description: NotRequired[str]
    list_type: str
    source: str | None
    subscribers_count: int
    updated_at: NotRequired[str]


class ListSubscriptionJSON(TypedDict):
    """A list a user is subscribed to (``users.get_lists_subscribed_to``)."""

    list: SubscribedListJSON
    created_at: str


# -- user and object preferences -----------------------------------------------------------


class ChannelPreferenceJSON(TypedDict):
    channel: str
    is_restricted: bool


class ChannelPreferencesJSON(TypedDict):
    """``get_global_channels_preference`` and ``update_global_channels_preference``."""

    channel_preferences: list[ChannelPreferenceJSON]


class CategoryChannelJSON(TypedDict):
    channel: str
    preference: Literal["opt_in", "opt_out"]
    is_editable: bool


class CategoryPreferenceJSON(TypedDict):
    """One category's preference of a user or an object (``get_category_preference``...)."""

    name: str
    category: str
    description: str | None
    original_preference: Preference | None
    preference: Preference
    is_editable: bool
    channels: list[CategoryChannelJSON]
    tags: NotRequired[list[str]]
    effective_tags: NotRequired[list[str]]


class PreferenceSectionJSON(TypedDict):
    """A section of the preference page: its categories, under ``subcategories``."""

    subcategories: list[CategoryPreferenceJSON]
    name: NotRequired[str | None]
    slug: NotRequired[str | None]
    description: NotRequired[str | None]
    tags: NotRequired[list[str]]


class FullPreferenceJSON(TypedDict):
    """Every preference of a user or an object (``get_full_preference``, ``update_full_...``)."""

    sections: list[PreferenceSectionJSON]
    channel_preferences: list[ChannelPreferenceJSON]


# -- tenants and brands --------------------------------------------------------------------


class SocialLinksJSON(TypedDict, total=False):
    website: str
    facebook: str
    linkedin: str
    x: str
    instagram: str
    medium: str
    discord: str
    telegram: str
    youtube: str
    tiktok: str


class TenantJSON(TypedDict):
    """A tenant (``tenants.get``, ``upsert``; a page's items): its name, logo, colours,
    links and properties, used to brand the notifications sent for it."""

    tenant_id: str
    tenant_name: str
    logo: str | None
    timezone: str | None
    blocked_channels: list[str] | None
    embedded_preference_url: str | None
    hosted_preference_domain: str | None
    primary_color: str | None
    secondary_color: str | None
    tertiary_color: str | None
    social_links: SocialLinksJSON
    properties: dict[str, Any]
    updated_at: str
    preference_page_url: NotRequired[str | None]


class BrandJSON(TypedDict):
    """A brand: a tenant under its older name (``brands.get``, ``upsert``; a page's items).

    The document only describes tenants now; the brand paths answer the same
    fields with ``brand_id`` and ``brand_name``, so the fields past those two
    are left to ``.get()``.
    """

    brand_id: str
    brand_name: str
    logo: NotRequired[str | None]
    timezone: NotRequired[str | None]
    blocked_channels: NotRequired[list[str] | None]
    embedded_preference_url: NotRequired[str | None]
    hosted_preference_domain: NotRequired[str | None]
    primary_color: NotRequired[str | None]
    secondary_color: NotRequired[str | None]
    tertiary_color: NotRequired[str | None]
    social_links: NotRequired[SocialLinksJSON]
    properties: NotRequired[dict[str, Any]]
    updated_at: NotRequired[str]


class TenantCategoryJSON(TypedDict):
    """A category as a tenant sets it (``tenants.get_preference_category``, its page's
    items; ``get_default_preference`` and ``update_default_category_preference``)."""

    name: str
    category: str
    description: str | None
    root_category: RootCategory
    default_preference: Preference
    default_mandatory_channels: list[str] | None
    default_opt_in_channels: list[str] | None
    visible_to_subscriber: bool
    preference: Preference | None
    mandatory_channels: NotRequired[list[str] | None]
    opt_in_channels: list[str] | None
    blocked_channels: list[str] | None
    enabled_for_tenant: NotRequired[bool]
    tags: NotRequired[list[str]]
    effective_tags: NotRequired[list[str]]
    updated_at: NotRequired[str | None]


class TenantSectionJSON(TypedDict):
    name: str | None
    slug: str | None
    description: str | None
    tags: NotRequired[list[str]]
    categories: list[TenantCategoryJSON]


class TenantRootCategoryJSON(TypedDict):
    root_category: RootCategory
    sections: list[TenantSectionJSON]


class TenantFullPreferenceJSON(TypedDict):
    """Every category of a tenant, by root category and section (``get_full_preference``)."""

    root_categories: list[TenantRootCategoryJSON]

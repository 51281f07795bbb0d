"""Food attributes: which categories are food, and the closed lists food values come from.

A product in a food category carries a shelf life and a storage class (and optionally
allergens, ingredients, certifications and an origin); a product in any other category carries
none. The value checks here raise ValueError so that the request models, which call them, answer
a 422 naming the refused field; the category rule raises RuleError. No I/O here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal, TypeVar, get_args

from chassis.rules import RuleError
from shared_events.inventory import StorageClass

__all__ = ["StorageClass"]

# The 14 allergen groups a label must declare in the EU (Regulation 1169/2011, Annex II).
Allergen = Literal[
    "GLUTEN",  # cereals containing gluten: wheat, rye, barley, oats, spelt, kamut
    "CRUSTACEANS",
    "EGGS",
    "FISH",
    "PEANUTS",
    "SOYBEANS",
    "MILK",
    "TREE_NUTS",  # almonds, hazelnuts, walnuts, cashews, pecans, Brazil nuts, pistachios, ...
    "CELERY",
    "MUSTARD",
    "SESAME",
    "SULPHITES",  # sulphur dioxide and sulphites above 10 mg/kg or 10 mg/l
    "LUPIN",
    "MOLLUSCS",
]
ALLERGENS: tuple[str, ...] = get_args(Allergen)

Certification = Literal[
    "ORGANIC",  # China organic product certification, EU organic, USDA organic
    "GREEN_FOOD",  # 绿色食品
    "GEOGRAPHICAL_INDICATION",  # 地理标志产品, EU PDO/PGI
    "HALAL",
    "KOSHER",
    "FAIRTRADE",
    "RAINFOREST_ALLIANCE",
    "HACCP",
    "ISO_22000",
]
CERTIFICATIONS: tuple[str, ...] = get_args(Certification)

STORAGE_CLASSES: tuple[str, ...] = get_args(StorageClass)

# ISO 3166-1 alpha-2: the officially assigned codes (249), as a table to read.
_ASSIGNED_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN
    BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL
    GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM
    JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME
    MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP
    NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD
    SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_ASSIGNED_CODES.split())

# Ten years covers canned food, honey and aged tea; anything longer is a typo.
MAX_SHELF_LIFE_DAYS = 3650
MAX_INGREDIENTS = 100

# The categories that are food unless CATALOG_FOOD_CATEGORIES says otherwise: the demo
# catalog's tea and snacks, and the usual grocery aisles.
DEFAULT_FOOD_CATEGORIES = (
    "beverages",
    "dairy",
    "food",
    "fruit",
    "grain",
    "meat",
    "seafood",
    "snacks",
    "tea",
    "vegetables",
)

T = TypeVar("T")


def country_code(value: str) -> str:
    """An assigned ISO 3166-1 alpha-2 code (upper case), or ValueError."""
    if value not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


def distinct(values: Sequence[T]) -> Sequence[T]:
    """The codes of a list, each once, or ValueError naming the repeated one."""
    seen: set[T] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


def check_food_fits_category(
    category: str, *, has_food: bool, food_categories: Collection[str]
) -> None:
    """Food categories require the food attributes; other categories refuse them."""
    is_food = category in food_categories
    if is_food and not has_food:
        raise RuleError(
            "food-attributes-required",
            f"food: category {category!r} is food; shelf_life_days and storage_class are required",
        )
    if has_food and not is_food:
        raise RuleError(
            "food-attributes-not-allowed",
            f"food: category {category!r} is not food; send no food attributes (or null)",
        )

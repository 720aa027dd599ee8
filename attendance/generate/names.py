"""Pupil names and ethnicity: a mix like an English trust's, with the characters that break
naive pipelines (diacritics, other scripts, apostrophes, names a spreadsheet reads as formulas).

Names follow the pupil's DfE ethnicity code so that rolls look plausible; the pools are short
lists written for this generator, not data about real people.
"""

from __future__ import annotations

import unicodedata

import numpy as np

# DfE ethnicity codes with rough shares of an English trust, and the name origin each uses.
ETHNICITIES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("WBRI", 0.640, ("english",)),
    ("WIRI", 0.012, ("irish",)),
    ("WOTH", 0.065, ("polish", "romanian", "portuguese", "nordic", "ukrainian")),
    ("WROM", 0.004, ("english", "romanian")),
    ("WIRT", 0.003, ("irish",)),
    ("MWBC", 0.020, ("english", "caribbean")),
    ("MWBA", 0.010, ("english", "african")),
    ("MWAS", 0.015, ("english", "south_asian")),
    ("MOTH", 0.018, ("english", "arabic", "portuguese")),
    ("AIND", 0.030, ("south_asian",)),
    ("APKN", 0.040, ("muslim_asian",)),
    ("ABAN", 0.015, ("muslim_asian",)),
    ("AOTH", 0.012, ("vietnamese",)),
    ("BAFR", 0.040, ("african",)),
    ("BCRB", 0.012, ("caribbean",)),
    ("BOTH", 0.005, ("african",)),
    ("CHNE", 0.007, ("chinese",)),
    ("OOTH", 0.018, ("arabic",)),
    ("REFU", 0.009, ("english",)),
    ("NOBT", 0.015, ("english",)),
)

# fmt: off
# Chance a pupil of each origin speaks English as an additional language (overall ~20%).
EAL_RATE = {
    "english": 0.02, "irish": 0.02, "caribbean": 0.05, "polish": 0.9, "romanian": 0.9,
    "portuguese": 0.85, "nordic": 0.7, "ukrainian": 0.95, "south_asian": 0.65,
    "muslim_asian": 0.75, "vietnamese": 0.85, "african": 0.6, "chinese": 0.85, "arabic": 0.9,
}

# origin: (boys, girls, surnames)
POOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "english": (
        ("Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Charlie",
         "Freddie", "Alfie", "Theo", "Archie", "Thomas", "Henry", "Joshua", "William", "James",
         "Jacob", "Isaac", "Ethan", "Lucas", "Max", "Finley", "Reuben", "Toby", "Riley"),
        ("Olivia", "Amelia", "Isla", "Ava", "Lily", "Freya", "Ivy", "Florence", "Grace",
         "Emily", "Poppy", "Evie", "Ella", "Sophie", "Zoë", "Chloë", "Rosie", "Isabella",
         "Daisy", "Matilda", "Harper", "Ruby", "Phoebe", "Erin", "Millie", "Renée", "Esmé"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
         "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
         "Hall", "Wood", "Jackson", "Clarke", "Hughes", "Turner", "Hill", "Cooper", "Ward",
         "Harris", "Lewis", "Baker", "Edwards", "Morris", "Smith-Jones", "Bennett-Hale",
         "Fairweather", "Atkinson", "Marsden", "Pickering", "Holroyd", "Ellis"),
    ),
    "irish": (
        ("Seán", "Cian", "Oisín", "Conor", "Darragh", "Patrick", "Ciarán", "Liam"),
        ("Aoife", "Niamh", "Siobhán", "Róisín", "Ciara", "Saoirse", "Caoimhe", "Orla"),
        ("O'Brien", "O'Connor", "Murphy", "Kelly", "Byrne", "Ó Súilleabháin", "McCarthy",
         "Doyle", "Gallagher", "Fitzgerald"),
    ),
    "polish": (
        ("Łukasz", "Jakub", "Mateusz", "Kacper", "Szymon", "Michał", "Wojciech", "Bartosz"),
        ("Zuzanna", "Julia", "Maja", "Zofia", "Małgorzata", "Wiktoria", "Agnieszka", "Łucja"),
        ("Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamińska", "Lewandowski",
         "Zieliński", "Szymańska", "Dąbrowski"),
    ),
    "romanian": (
        ("Andrei", "Ștefan", "Mihai", "Alexandru", "Ionuț", "Zoltán", "Gábor"),
        ("Ioana", "Maria", "Elena", "Andreea", "Bianca", "Réka", "Ilinca"),
        ("Popescu", "Ionescu", "Constantin", "Stan", "Dumitru", "Munteanu", "Kovács", "Nagy"),
    ),
    "portuguese": (
        ("João", "Tiago", "Rodrigo", "Gonçalo", "Martim", "José", "Santiago"),
        ("Beatriz", "Inês", "Leonor", "Matilde", "Mariana", "Lucía", "Ana"),
        ("Gonçalves", "Silva", "Santos", "Ferreira", "Pereira", "Fernández", "da Costa"),
    ),
    "nordic": (
        ("Ólafur", "Björn", "Søren", "Jónas", "Mikkel", "Lars"),
        ("Sigríður", "Ástrid", "Freja", "Ingrid", "Björk", "Saga"),
        ("Jónsson", "Sigurðsson", "Müller", "Weiß", "Andersen", "Nielsen", "Jørgensen"),
    ),
    "ukrainian": (
        ("Oleksandr", "Dmytro", "Maksym", "Artem", "Bohdan", "Олександр", "Дмитро"),
        ("Sofiia", "Anastasiia", "Yeva", "Daryna", "Solomiia", "Софія", "Анна"),
        ("Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Melnyk", "Шевченко", "Коваленко"),
    ),
    "south_asian": (
        ("Arjun", "Aarav", "Rohan", "Vihaan", "Krish", "Dev", "Ishaan", "Harjeet", "Gurpreet"),
        ("Priya", "Ananya", "Diya", "Aisha", "Saanvi", "Kavya", "Simran", "Harleen", "Anika"),
        ("Patel", "Sharma", "Singh", "Kaur", "Gupta", "Shah", "Mistry", "Chauhan", "Sandhu"),
    ),
    "muslim_asian": (
        ("Muhammad", "Ibrahim", "Yusuf", "Zain", "Ayaan", "Hamza", "Rayyan", "Abdullah"),
        ("Maryam", "Fatima", "Zara", "Hafsa", "Inaaya", "Aleena", "Eshal", "Ayesha"),
        ("Khan", "Hussain", "Ahmed", "Ali", "Begum", "Akhtar", "Iqbal", "Rahman", "Uddin"),
    ),
    "vietnamese": (
        ("Minh", "Huy", "Khoa", "Đức", "Quang", "Tuấn"),
        ("Linh", "Ngọc", "Thảo", "Hương", "Mai", "Phương"),
        ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Đặng"),
    ),
    "african": (
        ("Tobi", "Chidi", "Emeka", "Kwame", "Kofi", "Abdi", "Tunde", "Oluwaseun", "Samuel"),
        ("Adaeze", "Chiamaka", "Amara", "Ama", "Ayan", "Hodan", "Folake", "Blessing", "Esther"),
        ("Okafor", "Adeyemi", "Mensah", "Osei", "Abdullahi", "Warsame", "Oyelaran", "Nwosu",
         "Boateng", "Adebayo"),
    ),
    "caribbean": (
        ("Jaden", "Kai", "Marcus", "Tyrone", "Andre", "Josiah", "Malachi"),
        ("Aaliyah", "Jada", "Shanice", "Nia", "Kiara", "Tia", "Imani"),
        ("Campbell", "Francis", "Grant", "Morgan", "Bailey", "Reid", "McKenzie", "Walters"),
    ),
    "chinese": (
        ("Wei", "Hao", "Jun", "Yichen", "Zihan", "Ming", "浩然", "子轩"),
        ("Mei", "Xinyi", "Yutong", "Lin", "Jiayi", "Qing", "欣怡", "梓涵"),
        ("Wang", "Li", "Zhang", "Chen", "Liu", "Huang", "王", "李", "陈"),
    ),
    "arabic": (
        ("Omar", "Ahmad", "Khalid", "Karim", "Youssef", "Rami", "محمد", "علي"),
        ("Layla", "Nour", "Amira", "Yasmin", "Huda", "Salma", "فاطمة", "ليلى"),
        ("Al-Sayed", "Haddad", "Mansour", "Nasser", "Saleh", "Darwish", "الحسن", "حداد"),
    ),
}

# fmt: on

# Surnames a spreadsheet would read as formulas; the exports must neutralise them (SPEC 7).
FORMULA_SURNAMES = ("-Smith", "=Khan", "@Jones", "+Patel")
FORMULA_RATE = 0.001
_FOLD = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ø": "O", "ø": "o", "ß": "ss"})


def cp1252_safe(name: str) -> str | None:
    """The name as a Windows-1252 MIS would hold it: diacritics outside the code page folded to
    their base letter, or None when nothing readable is left (other scripts)."""
    try:
        name.encode("cp1252")
        return name
    except UnicodeEncodeError:
        pass
    folded = unicodedata.normalize("NFKD", name.translate(_FOLD))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = unicodedata.normalize("NFC", folded)
    try:
        folded.encode("cp1252")
    except UnicodeEncodeError:
        return None
    return folded or None


def draw_ethnicities(rng: np.random.Generator, n: int) -> np.ndarray:
    codes = np.array([e[0] for e in ETHNICITIES])
    p = np.array([e[1] for e in ETHNICITIES])
    return codes[rng.choice(len(codes), size=n, p=p / p.sum())]


def _origin_index() -> dict[str, tuple[str, ...]]:
    return {code: origins for code, _, origins in ETHNICITIES}


def draw_names(
    rng: np.random.Generator,
    ethnicity: np.ndarray,
    gender: np.ndarray,
    cp1252_only: bool,
) -> tuple[list[str], list[str], np.ndarray]:
    """(surnames, forenames, eal) for pupils of the given ethnicity codes and genders.

    `cp1252_only` is for academies whose MIS exports Windows-1252: their pupils' names are held
    that way everywhere (roll included), so the roll and the registers agree.
    """
    origins = _origin_index()
    surnames: list[str] = []
    forenames: list[str] = []
    eal = np.zeros(len(ethnicity), dtype=bool)
    english = POOLS["english"]
    for i, (eth, sex) in enumerate(zip(ethnicity.tolist(), gender.tolist(), strict=True)):
        choices = origins[eth]
        fore_origin = choices[int(rng.integers(len(choices)))]
        sur_origin = choices[-1] if len(choices) > 1 and eth.startswith("M") else fore_origin
        boys, girls, _ = POOLS[fore_origin]
        pool = boys if sex == "M" else girls
        fore = pool[int(rng.integers(len(pool)))]
        sur_pool = POOLS[sur_origin][2]
        sur = sur_pool[int(rng.integers(len(sur_pool)))]
        if rng.random() < FORMULA_RATE:
            sur = FORMULA_SURNAMES[int(rng.integers(len(FORMULA_SURNAMES)))]
        if cp1252_only:
            fore = cp1252_safe(fore) or english[1 if sex == "F" else 0][i % 20]
            sur = cp1252_safe(sur) or english[2][i % 30]
        forenames.append(fore)
        surnames.append(sur)
        eal[i] = rng.random() < EAL_RATE[fore_origin]
    return surnames, forenames, eal

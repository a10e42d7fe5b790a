"""Writes travel-policy.pdf, the PDF document of the workplace evaluation set.

The PDF is committed; this script is kept to reproduce or change it. It needs fpdf2 (the ``bench`` extra)
and uses only the PDF core font, so the output does not depend on the fonts installed:

    .venv/bin/python benchmarks/data/workplace/make_pdf.py
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).with_name("travel-policy.pdf")
REF = "POL-TRV-04"

TITLE = "Travel Policy"
META = [
    "Brackenridge Analytics Ltd",
    f"Document reference {REF}. Version 2.1, effective 1 April 2024.",
    "Owner: Finance. Approved by Martin Ellery, Chief Financial Officer, on 18 March 2024.",
]

# (heading, [(clause number, text), ...])
SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "1. Purpose and scope",
        [
            (
                "1.1",
                "This policy sets the rules for business travel by employees and contractors of Brackenridge "
                "Analytics Ltd. It aims to keep travellers safe and costs reasonable.",
            ),
            (
                "1.2",
                "Hotel limits per night are set in section 5.3 of the Employee Handbook and are not repeated "
                "here. Where this policy and the Handbook differ on travel, this policy applies.",
            ),
        ],
    ),
    (
        "2. Before you travel",
        [
            (
                "2.1",
                "Book all flights, trains, hotels and hire cars through the Compass Route travel portal. "
                "Bookings made elsewhere are not reimbursed unless the portal cannot offer the journey.",
            ),
            ("2.2", "Book at least 14 days before departure, so that fares are lower."),
            ("2.3", "A trip whose total cost is above £2,500 needs the written approval of a director before booking."),
            (
                "2.4",
                "Travel to a country rated high-risk by the Security team needs the approval of the Information "
                "Security Officer and of the Head of People at least 21 days before departure.",
            ),
        ],
    ),
    (
        "3. Air travel",
        [
            ("3.1", "Fly economy class for flights shorter than 6 hours."),
            ("3.2", "Premium economy may be booked for flights of 6 hours or more."),
            ("3.3", "Business class needs the prior approval of the Chief Financial Officer."),
            (
                "3.4",
                "Travellers may keep frequent-flyer points earned on business trips, but points must never "
                "influence the choice of airline or fare.",
            ),
        ],
    ),
    (
        "4. Rail, road and taxis",
        [
            (
                "4.1",
                "Travel by rail in standard class. First class is allowed for journeys longer than 3 hours when "
                "it is booked at least 7 days ahead.",
            ),
            (
                "4.2",
                "Hire cars may be up to the intermediate size group (group C). Excess insurance is included "
                "when the car is booked through the portal.",
            ),
            (
                "4.3",
                "Taxis may be claimed when no public transport runs, after 21:00, or when you carry heavy equipment.",
            ),
        ],
    ),
    (
        "5. Daily allowances abroad",
        [
            (
                "5.1",
                "On trips outside the UK you may claim a daily allowance for meals and incidental costs, as "
                "set out in Table 1. Receipts are not needed for the daily allowance.",
            ),
        ],
    ),
    (
        "",
        [
            ("5.2", "Alcohol, minibar items and in-flight purchases are not reimbursed."),
        ],
    ),
    (
        "6. Security while travelling",
        [
            (
                "6.1",
                "Take only your company laptop, which has full-disk encryption. Do not take paper copies of "
                "confidential documents.",
            ),
            (
                "6.2",
                "Connect through the Brackenridge Connect VPN before using any hotel or public Wi-Fi network.",
            ),
            (
                "6.3",
                "Report a lost or stolen laptop or phone within 1 hour to the Security Operations line, "
                "+44 20 7946 0999, which answers 24 hours a day.",
            ),
            (
                "6.4",
                "Every business trip is covered by the company travel insurance with Halden Mutual, policy "
                "number BRK-TRV-55821. For medical help abroad call the emergency assistance line, "
                "+44 20 7946 0888.",
            ),
        ],
    ),
    (
        "7. After you travel",
        [
            ("7.1", "Claim travel expenses through the Ledgerly expenses app within 30 days of returning."),
            (
                "7.2",
                "Costs in a foreign currency are converted at the exchange rate shown on your card statement.",
            ),
            (
                "7.3",
                "The corporate card has a monthly limit of £5,000. It must not be used for personal purchases, "
                "even if you intend to repay them.",
            ),
        ],
    ),
    (
        "8. Breaches",
        [
            (
                "8.1",
                "Costs booked against this policy without approval may not be reimbursed. Repeated or deliberate "
                "breaches are handled under the disciplinary procedure.",
            ),
        ],
    ),
    (
        "9. Document control",
        [
            (
                "9.1",
                "Version 2.1 replaces Version 2.0 of 1 September 2022. It raises the approval threshold for "
                "trips from £2,000 to £2,500 and adds clause 6.2.",
            ),
            ("9.2", "The policy is reviewed every year; the next review is due in March 2025."),
        ],
    ),
]

ALLOWANCES = [
    ("Destination", "Daily allowance"),
    ("United States", "USD 90"),
    ("Ireland", "EUR 70"),
    ("Germany", "EUR 65"),
    ("Japan", "JPY 11,000"),
    ("Any other country", "£60"),
]


class PolicyPDF(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", "I", 8)
        self.cell(0, 6, f"Brackenridge Analytics Ltd - {TITLE} ({REF}, version 2.1)", align="R")
        self.ln(10)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 8)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def build() -> bytes:
    pdf = PolicyPDF(format="A4")
    pdf.set_title(TITLE)
    pdf.set_author("Brackenridge Analytics Ltd")
    pdf.set_creation_date(datetime(2024, 3, 18, tzinfo=UTC))  # fixed, so the bytes are reproducible
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(22, 18, 22)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in META:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for heading, clauses in SECTIONS:
        if heading:
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 12)
            pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10.5)
        for number, text in clauses:
            pdf.set_x(pdf.l_margin)
            pdf.cell(12, 6, number)
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        if heading.startswith("5."):
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 10)
            pdf.cell(0, 6, "Table 1: Daily allowance abroad, per day", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 10)
            with pdf.table(col_widths=(60, 40), width=100, align="LEFT", first_row_as_headings=True) as table:
                for row in ALLOWANCES:
                    table.row(row)
            pdf.ln(3)
    return bytes(pdf.output())


def main() -> None:
    OUT.write_bytes(build())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

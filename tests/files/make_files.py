"""Writes the PDF and Word files the knowledge-base tests upload, with the real producers
(fpdf2 for PDF, python-docx for DOCX), so the server reads files as owners' tools make them.
Usage: python tests/files/make_files.py OUT_DIR
Writes guide.pdf, guide.docx, scan.pdf (an image, no text) and locked.pdf (password set).
"""

import sys
from pathlib import Path

from docx import Document
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)


def text_pdf() -> FPDF:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=16)
    pdf.cell(text="Warranty guide", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.ln(4)
    pdf.multi_cell(0, 6, text="Every Zephyr blender has a seven year warranty on its motor. "
                   "Register your blender within 30 days to get the full seven years.")
    pdf.ln(4)
    pdf.multi_cell(0, 6, text="Glass jars are covered for one year against cracks.")
    return pdf


text_pdf().output(str(out / "guide.pdf"))

locked = text_pdf()
locked.set_encryption(owner_password="owner-secret", user_password="visitor-secret",
                      encryption_method=EncryptionMethod.RC4)
locked.output(str(out / "locked.pdf"))

# A "scan": one page that is a picture of text, with no text in it.
scan = FPDF()
scan.add_page()
scan.set_fill_color(30, 30, 30)
for row in range(12):
    scan.rect(20, 20 + row * 10, 170 - (row % 3) * 20, 4, style="F")
scan.output(str(out / "scan.pdf"))

word = Document()
word.add_heading("Shipping the Zephyr", level=1)
word.add_paragraph("We ship every Zephyr blender in recycled packaging within two business days.")
word.add_heading("Where we ship", level=2)
word.add_paragraph("Canada & Mexico: 5 to 8 business days", style="List Bullet")
word.add_paragraph("Europe: 7 to 12 business days", style="List Bullet")
word.add_paragraph("Returns of unopened blenders are free within 60 days.")
word.save(str(out / "guide.docx"))
print("written", flush=True)

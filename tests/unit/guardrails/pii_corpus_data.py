"""Word lists, issuer ranges and sentence templates for the synthetic PII corpus
(pii_corpus.py). Values are the kinds people and systems really write; templates are
the sentences chat users write around them, and around look-alikes that are not PII."""

FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Carlos Priya Wei Fatima Olivia Liam Noah Emma Ava Sofia
Mateo Aisha Hiroshi Chloe Dmitri Grace Kwame Lucia Ethan Zoe Arjun Mei""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Nguyen Patel Kim Chen O'Brien Okafor Kowalski Schmidt
Rossi Singh Tanaka Ivanova Cohen Murphy Lee Walker Hall Young King Wright""".split()
MAIL_HOSTS = """gmail.com yahoo.com outlook.com hotmail.com icloud.com aol.com proton.me comcast.net
verizon.net me.com live.com msn.com""".split()
ORG_DOMAINS = """acme.com globex.io initech.co umbrella-corp.com stark.industries wayne-enterprises.org
cs.stanford.edu mail.harvard.edu nhs.uk bbc.co.uk example.org northwind-traders.com contoso.com
fabrikam.net tailspin.dev health.ny.gov eng.uber.com us.ibm.com research.google city.ac.uk""".split()
# city, state, ZIP prefix
CITIES = [
    tuple(entry.split(","))
    for entry in """Seattle,WA,981 Austin,TX,787 Boston,MA,021 Denver,CO,802 Chicago,IL,606 Miami,FL,331
    Portland,OR,972 Atlanta,GA,303 Phoenix,AZ,850 Columbus,OH,432 Nashville,TN,372""".split()
]
STREETS = "Main St|Oak Avenue|Maple Dr|Cedar Lane|Pine Street|Elm Ct|Lakeview Blvd|Sunset Ave|2nd Ave".split("|")
# Area codes in service, plus 555, which films and documentation use.
AREA_CODES = "212 213 206 301 305 312 303 404 415 469 503 512 602 617 646 702 713 718 773 808 818 917 919 949 972 555"
# Issuer prefixes and lengths: Visa, Mastercard (51-55, 2221-2720), Amex, Discover,
# Diners, JCB, UnionPay.
ISSUERS = [
    ("4", (16, 16, 16, 13, 19)),
    ("51 52 53 54 55 2221 2300 2720", (16,)),
    ("34 37", (15,)),
    ("6011 65 644 649", (16,)),
    ("36 38 300 305", (14,)),
    ("3528 3530 3589", (16,)),
    ("62", (16, 17, 18, 19)),
]
# The issuers' published test numbers, which show up in real support chats.
KNOWN_TEST_CARDS = """4111111111111111 4012888888881881 5555555555554444 5105105105105100 378282246310005
371449635398431 6011111111111117 6011000990139424 3530111333300000 30569309025904 4222222222222
2223003122003222""".split()
ROUTING_NUMBERS = "021000021 026009593 121000358 011000138 071000013".split()

PII_SENTENCES = r"""
My SSN is {ssn}.
SSN: {ssn}
Can you check whether {ssn} is a valid social security number?
Applicant {name}, Social Security No. {ssn}, DOB {date}.
{name}'s social security number is {ssn} and she lives at {address}.
Please update the W-2 for {name} (SSN {ssn}) before {date}.
The form says SS# {ssn} but payroll shows something else.
I typed {ssn} into the SSN field and it was rejected, why?
ssn={ssn}&dob={date}
{{"name": "{name}", "ssn": "{ssn}"}}
Tax ID {ssn} belongs to the sole proprietor.
Employee: {name} | SSN {ssn} | Start date {date}
my social is {ssn} dont share it pls
Write a letter to the IRS about the duplicate return filed under {ssn}.
Social security: {ssn}. Mother's maiden name: {last}.
My card number is {card}, expiring {exp}.
Charge {card} for the remaining balance of {money}.
Visa {card} exp {exp} cvv {cvv}
The payment failed for card {card}; can you retry?
I was double charged on {card}, please refund {money}.
card_number: {card}
Use {card} as the test card in the checkout demo.
Card: {card} {exp}
Customer {name} paid with {card} on {date}.
Why does Stripe reject {card}?
Update billing to {card}, billing zip {zip}.
{{"pan": "{card}", "exp": "{exp}"}}
Send the invoice to {email}.
You can reach me at {email} or {phone}.
Contact: {name} <{email}>
Please CC {email} and {email} on the thread.
mailto:{email}
From: {name} <{email}>\nTo: {email}\nSubject: Re: order {order}
My email ({email}) was changed without my consent.
Is '{email}' a valid address?
{email}: please review the pull request.
{{"email": "{email}", "phone": "{phone}"}}
{name},{email},{phone},{city}
Reply-To: {email}
Forwarding rule: *@{domain} -> {email}
Log in as {email} with the temporary password.
Ask {name} ({email}) for the slides.
Call me at {phone} after 5pm.
My cell is {phone}.
You can text {phone} for updates.
Office: {phone} | Fax: {phone}
The customer left a voicemail from {phone} about order {order}.
Reach the front desk at {phone}.
my number is {phone}
Emergency contact: {name}, {phone}
{name} ({phone}) asked about the refund.
Dial {phone} and press 2 for billing.
Tel: {phone}
Phone {phone}, email {email}.
Please have {name} call back on {phone} today.
Our support line {phone} is open 9-5 EST.
Whatsapp me on {phone}!
"""

NEGATIVE_SENTENCES = r"""
The shipment to {city}, {state} {zip4} was delayed.
Mail it to {address}.
ISBN {isbn} is out of print; try {isbn} instead.
Replace part {part} with {part}.
Your order {order} has shipped; tracking {order}.
Deployed {version} at {ts} to {ip}.
Ping {handle} about the flaky test in {version}.
Card {bad_card} was declined: invalid number.
The SSN {bad_ssn} is invalid, so the application bounced.
Request {uuid} took {small} ms.
Total: {money}, {money} after tax.
Case number {bad_phone} is assigned to the billing team.
Account {account} has a balance of {money}.
Email-ish strings like {not_email} are not addresses.
GET /api/v2/users/{account}/orders returned 404 at {ts}.
Batch {order} processed {small} rows.
{ts} INFO worker-{small} pid={small} latency_ms={small} ip={ip}
The meeting moved to {date} at {small}.
Routing number {routing} is for the Chicago branch.
See chapter {small}, page {small}, ISBN {isbn}.
Invoice {order} for {money} is due {date}.
Upgrade {version} to fix CVE-{year}-{small}.
The warehouse shipped {small} units of {part} to {zip4}.
Follow {handle} and {handle} for updates.
Error code 0x{hex} at address 0x{hex}.
Temperature was {small} degrees on {date}.
Commit {sha} broke the build at {ts}.
Seats {small}-{small}, gate B{small}, flight UA{small}.
{bad_card} failed the Luhn check.
Ticket {order} was escalated by {handle}.
Order {id10} shipped today; call us if it has not arrived by {date}.
Claim {id9} was approved, text STOP to opt out of SMS updates.
Confirmation {id10}: reach out to the front desk with questions.
Member ID {id9} (see your social services letter).
"""

FILLER = """Thanks for your help!|Let me know if you need anything else.|Could you summarize this for me?
|Please draft a polite reply.|Translate the following into Spanish.|Is this correct?
|I've been waiting for two weeks.|The app keeps crashing on login.|Here is the data:
|Can you format this as a table?|Ignore the previous message.|Best regards,|Hi team,
|Quick question about my account.|This is urgent.|See below.|What should I do next?"""

"""The regular expressions behind :func:`core.assistant.signals.read_signals`.

Each public pattern is one signal, an alternation of phrasings compiled once; all of them run
on the normalised text (:func:`core.assistant.signals.normalise`: lowercased, straight quotes,
typos of key words fixed). Every gap between words is bounded (``{0,n}``) and no unbounded
repetition nests another, so a search costs time linear in the text's length.
"""

from __future__ import annotations

import re


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_DET = r"(?:(?:a|an|the|your|some|any|one\s+of\s+your|one\s+of\s+the)\s+)?"
_HUMAN = r"human(?!\s+(?:resources|error|rights|readable|nature|trafficking|capital|body))"
_QUAL = rf"(?:(?:real|actual|live|{_HUMAN}|proper|competent|senior|qualified|genuine)\s+)?"
_PERSON_CORE = (
    rf"(?:{_HUMAN}(?:\s+beings?)?s?|persons?|people|agents?|reps?|representatives?|"
    r"supervisors?|managers?|operators?|advis[eo]rs?|staff(?:\s+members?)?|employees?|"
    r"team\s+members?|boss|bosses|higher[\s-]ups?|colleagues?(?:\s+of\s+yours)?|"
    r"(?:customer\s+)?support(?!\s+(?:for|of|with|page|article|docs|documentation|site|link))|"
    r"members?\s+of\s+(?:your\s+|the\s+)?(?:staff|team|support|customer\s+\w+)|"
    r"customer\s+(?:service|support|care|services)(?:\s+(?:team|reps?|representatives?|agents?|"
    r"department|desk|staff))?|support\s+(?:team|staff|agents?|desk|department)|"
    r"(?:\w+\s+)?(?:team|department|desk)(?!\s+(?:accounts?|plans?|membership|subscriptions?|"
    r"names?|licen[cs]es?|seats?|workspaces?|settings|pages?|features?|access|folders?|spaces?|"
    r"owner|admin|billing|invoices?|cards?|rates?|discounts?)\b))(?!'s)"
)
_SOMEONE = (
    r"(?:someone|somebody|anyone|anybody|some\s+one|sum+one|some1|whoever(?:\s+is)?\s+in\s+charge|"
    r"(?:someone|somebody|the\s+person)\s+(?:in\s+charge|higher\s+up|senior))"
)
_PERSON = rf"(?:{_PERSON_CORE}|{_SOMEONE})"
_BOT = (
    r"(?:bot|robot|chat\s?bot|automated\s+(?:replies|reply|system|messages?|assistant|"
    r"responses?))s?"
)

PERSON_REQUEST = _any(
    # talk / speak / chat / reach
    r"\b(?:talk|speak|chat|go)\s+(?:this|it|things|that)\s+(?:through|"
    rf"over)\s+with\s+{_DET}{_QUAL}{_PERSON}\b",
    r"\b(?:is|are)\s+there\s+(?:any\s*one|anybody|someone|somebody|a\s+person|"
    r"people)\s+(?:\w+\s+){0,2}?"
    r"(?:i|we)\s+(?:can|could|may)\s+(?:talk|speak|chat|call|contact|ring)\b",
    rf"\b(?:appointment|meeting|session|video\s+call)\s+with\s+{_DET}{_QUAL}{_PERSON_CORE}\b",
    r"\b(?:speak|speaking|talk|talking|chat|chatting|converse|"
    r"discuss\s+(?:this|it|[a-z ]{0,25}?))\s+(?:to|with)\s+"
    rf"{_DET}{_QUAL}{_PERSON}\b",
    r"\b(?:reach|contact|get\s+hold\s+of|get\s+through\s+to|(?:get|put|"
    r"be)\s+(?:me\s+)?in\s+touch\s+with|"
    rf"deal\s+with)\s+{_DET}{_QUAL}{_PERSON_CORE}\b",
    rf"\b(?:reach|contact|get\s+hold\s+of)\s+{_DET}(?:real|actual|live|{_HUMAN})\s+{_PERSON}\b",
    r"\b(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?(?:get|have|"
    rf"see)\s+{_DET}{_QUAL}{_PERSON_CORE}\b"
    r"(?!\s+(?:role|account|access|permissions?|rights?|status|view|login|seat|licen[cs]e)\b)",
    rf"\b(?:get|have|put)\s+{_DET}{_QUAL}{_PERSON}\s+on\s+the\s+(?:line|phone)\b",
    rf"\bput\s+{_DET}{_QUAL}{_PERSON_CORE}\s+on\b",
    r"\b(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:get|find|bring|"
    rf"put)\s+{_DET}{_QUAL}{_PERSON}\b",
    rf"\b(?:get|have|find|ask)\s+{_DET}{_QUAL}{_PERSON}\s+to\s+(?:look|call|contact|check|review|"
    r"help|deal|sort|handle|fix|ring|phone)\b",
    r"\bwho\s+(?:can|could|should|do)\s+(?:i|we)\s+(?:speak|talk|complain|write|escalate)\s+to\b",
    rf"\b(?:could|can|would|will|may)\s+{_DET}{_QUAL}{_PERSON_CORE}\s+(?:please\s+)?(?:call|ring|"
    r"phone|contact|explain|look|check|get\s+in\s+touch|reach\s+out|go\s+through|review|sort|deal|"
    r"advise)\b",
    r"\b(?:explain|discuss|talk|speak|go\s+through|chat)\b[^.!?\n]{0,40}?\b(?:over|on|by)\s+"
    r"(?:the\s+)?phone\b",
    r"\b(?:request|arrange|book|schedule|like|want|need|appreciate)\s+(?:a\s+)?(?:phone\s+)?call\s+"
    r"(?:from|with)\s+"
    rf"{_DET}{_PERSON}\b",
    rf"\b{_HUMAN}\s+(?:help|support|assistance|contact|interaction)\b",
    r"\b(?:please|pls|kindly)\s+escalate\b|\bescalate\s+(?:please|now|immediately|asap)\b",
    # transfer / connect / escalate me / this to ...
    r"\b(?:connect|transfer|put|pass|hand|forward|escalate|route|redirect|refer|send|switch)\s+"
    r"(?:me|us|this|it|my\s+(?:case|call|complaint|issue|ticket|query|request|problem|chat|"
    r"question))\s+(?:(?:on|over|up|back)\s+)?(?:through\s+)?(?:to|with)\s+"
    rf"{_DET}{_QUAL}{_PERSON}\b",
    r"\b(?:be|get|been|being)\s+(?:transferred|connected|put\s+through|passed|"
    r"escalated)\s+(?:on\s+)?"
    rf"(?:to|with)\s+{_DET}{_QUAL}{_PERSON}\b",
    r"\bescalat(?:e|ed|ing)\s+(?:this|it|my\s+\w+|the\s+(?:issue|matter|case|complaint|problem))\b",
    rf"\b(?:get|give|find|bring|fetch|send)\s+me\s+{_DET}{_QUAL}{_PERSON}\b",
    # I want / need a person
    r"\b(?:i|we)(?:(?:\s+really|\s+just|\s+do|\s+still)?\s+(?:want|need|require|demand|request|"
    r"wish|prefer|insist\s+on)|(?:'d|\s+would)\s+(?:really\s+)?(?:like|prefer|love|appreciate))\s+"
    r"(?:to\s+(?:have|get|see|reach)\s+)?"
    rf"{_DET}{_QUAL}{_PERSON_CORE}\b",
    rf"\b{_SOMEONE}\s+(?:please\s+)?(?:get\s+in\s+touch|reach\s+out|contact\s+me|call\s+me|"
    r"ring\s+me|phone\s+me)\b",
    rf"\b{_SOMEONE}\s+(?:real|human|competent|from\s+(?:your|the)\b|in\s+(?:your|the)\b|"
    r"who\s+(?:can|could|will|knows|actually|understands))",
    rf"\b(?:a|an|the)\s+(?:real|actual|live|proper)\s+(?:{_HUMAN}|person|people|agent)",
    rf"^\W*{_DET}{_QUAL}{_PERSON}\W*(?:please|pls|now|asap)\b",
    rf"\b(?:transfer|connect|put\s+me\s+through)\s+(?:to|with)\s+{_DET}{_QUAL}{_PERSON_CORE}\b",
    # call me back
    r"\b(?:call|phone|ring|contact)\s+(?:me|us)\s+back\b",
    # "call me" from you, someone or your staff, or as an order; not "can a debt collector call me"
    r"(?:^|[.!?,;]\s*|\b(?:please|pls|kindly|you|someone|somebody|anyone|anybody|team|staff|agent|"
    r"advis[eo]r|manager|supervisor|rep|representative|operator|person|department|members?|"
    r"specialist|consultant|expert)\b"
    r"[^.!?\n]{0,30}?)(?<!n't )(?<!not )\b(?:call|phone|ring|contact)\s+me\b"
    r"(?!\s+(?:by\s+my|mr|mrs|ms|miss|dr)\b)",
    r"\b(?:a|request(?:ing)?\s+a)\s+call[\s-]?back\b(?!\s*(?:url|uri|function|handler|endpoint))",
    r"\bgive\s+(?:me|us)\s+a\s+(?:call|ring|phone\s+call|buzz)\b",
    # is there a human / not a bot
    rf"\b(?:is|are)\s+(?:there|you)\s+(?:a\s+|an\s+|any\s+)?(?:real\s+|actual\s+|live\s+)?"
    rf"(?:{_HUMAN}|person|people|agent)",
    r"(?<!i'm )(?<!i am )\b(?:not|no|never|don't\s+want|do\s+not\s+want|stop|enough|done\s+with|"
    r"tired\s+of|sick\s+of|"
    rf"instead\s+of)\s+(?:[a-z']+\s+){{0,3}}?(?:a\s+|the\s+|this\s+|your\s+|more\s+)?{_BOT}\b",
    rf"\b(?:useless|stupid|dumb|pointless|hopeless)\s+{_BOT}\b",
    # the whole message is a person ("agent", "human please", "REPRESENTATIVE!!!")
    r"^\W*(?:(?:i\s+want|i\s+need|get\s+me|give\s+me)\s+)?"
    rf"{_DET}{_QUAL}{_PERSON}\W*(?:please|now|asap|right\s+now|immediately)?\W*$",
)

_THREAT_SUBJECT = (
    r"\b(?:i|we)(?:'ll|'m|'ve|'re|\s+will|\s+am|\s+are|\s+shall|\s+have|\s+intend\s+to|"
    r"\s+plan\s+to)"
    r"(?:\s+(?:now|just|definitely|seriously|really|honestly|also|then|so|already|be|going\s+to|"
    r"gonna|about\s+to|have\s+to|considering|thinking\s+of|thinking\s+about|forced\s+to|"
    r"left\s+with\s+no\s+choice\s+but\s+to|no\s+choice\s+but\s+to)){0,4}\s+"
)
_LAWYER = r"(?:lawyers?|attorneys?|solicitors?|legal\s+(?:team|counsel|representatives?|advisers?))"
_REGULATOR = (
    r"(?:(?:financial\s+)?ombudsman|regulators?|fca|cfpb|ftc|bbb|better\s+business\s+bureau|"
    r"trading\s+standards|action\s+fraud|the\s+police|consumer\s+(?:protection|rights|"
    r"affairs)(?:\s+\w+)?|attorney\s+general|"
    r"ico|information\s+commissioner|data\s+protection\s+(?:authority|commissioner)|watchdog|"
    r"the\s+(?:press|media|newspapers?|papers))"
)
_THREAT_ACTION = (
    r"(?:(?:file|filing|open|opening|raise|raising|do|doing|request|requesting|initiate|initiating|"
    r"start|starting|issue|issuing|put\s+in|putting\s+in|go\s+for|going\s+for|claim|claiming|"
    r"lodge|lodging|submit|submitting)\s+(?:a\s+|the\s+|for\s+a\s+)?charge[\s-]?backs?"
    r"|disput(?:e|ing)\s+(?:this|it|the\s+\w+)\s+with\s+my\s+(?:bank|card|credit\s+card)"
    r"|(?:file|filing|open|opening|raise|raising|lodge|lodging|start|starting|submit|submitting)\s+"
    r"(?:a\s+)?(?:dispute|claim)\s+with\s+my\s+(?:bank|card|credit\s+card|card\s+issuer)"
    r"|(?:take|taking|start|starting|begin|beginning|pursue|pursuing|bring|bringing|consider|"
    r"considering|initiate|initiating)\s+(?:legal\s+action|legal\s+proceedings|proceedings|"
    r"a\s+lawsuit|(?:you|this|it|the\s+matter)\s+to\s+(?:the\s+)?(?:small\s+claims(?:\s+court)?|"
    r"court|a\s+tribunal))"
    r"|su(?:e|ing)\b(?!\s+(?:my|a|an|his|her|their|them|him)\b)"
    r"|(?:report|reporting|reported|complain|complaining|complained|escalate|escalating|file|"
    r"filing|filed|lodge|lodging|lodged|submit|submitting|submitted|make|making|made|send|sending|"
    r"escalated|take|taking|taken|go|going|gone|write|writing|written|contact|contacting|contacted|"
    rf"refer|referring|referred|bring|bringing|raise|raising|raised)\b[^.!?\n]{{0,30}}?"
    rf"\b{_REGULATOR}\b"
    r"|(?:contact|contacting|contacted|call|calling|called|get|getting|involve|involving|involved|"
    r"instruct|instructing|instructed|consult|consulting|consulted|speak\s+to|speaking\s+to|"
    r"spoken\s+to|talk\s+to|talking\s+to|hire|hiring|hired|pass\s+this\s+to|passing\s+this\s+to|"
    rf"forward\s+this\s+to|send\s+this\s+to)\s+(?:my|a|an|our)\s+{_LAWYER}"
    r"|(?:cancel|cancelling|canceling|close|closing|terminate|terminating|quit|quitting)\s+"
    r"(?:all\s+(?:of\s+)?)?(?:my|our|the|every|each)\s+(?:\w+\s+)?(?:account|subscription|"
    r"membership|contract|plan|policy)s?\b"
    r"|(?:leave|leaving|write|writing|post|posting|give|giving|put|putting)\s+(?:you\s+)?"
    r"(?:a\s+|an\s+|my\s+)?(?:[a-z-]+\s+){0,2}?reviews?(?=\s*(?:[.!,;]|$)|\s+(?:about|of|on|for)\s+"
    r"(?:you|your|this|it)\b|\s+(?:everywhere|online|if|unless|and))"
    r"|(?:take|taking)\s+(?:this|it|the\s+matter|things|my\s+complaint)\s+(?:further|higher|"
    r"elsewhere|to\s+the\s+top)"
    r"|(?:call|calling|contact|contacting|ring|ringing|phone|phoning|ask|asking|tell|telling|get|"
    r"getting|go\s+to|going\s+to|have)\s+my\s+(?:bank|card\s+(?:issuer|company|provider)|"
    r"credit\s+card\s+(?:company|provider))\b[^.!?\n]{0,40}?\b(?:revers|disput|cancel|stop|block|"
    r"claw|recall|refund|charge)"
    r"|(?:post|posting|tweet|tweeting|share|sharing|put|putting|write|writing|tell|telling|"
    r"make\s+sure|let|expose|exposing|go\s+public|going\s+public|spread|"
    r"spreading)\b[^.!?\n]{0,40}?\b(?:social\s+media|twitter|facebook|instagram|tiktok|reddit|"
    r"trustpilot|yelp|google\s+reviews|the\s+internet|online|everyone|the\s+press|the\s+news)"
    r"|(?:take|taking|move|moving|switch|switching)\s+(?:all\s+(?:of\s+)?)?(?:my|our)\s+"
    r"(?:business|money|custom|"
    r"savings|accounts?|salary|mortgage|pension|isa|funds)\s+(?:elsewhere|to\s+(?:another|"
    r"a\s+different|a\s+competitor|your))"
    r"|(?:switch|switching|move|moving|go|going|leave|leaving)\s+(?:to|for)\s+(?:another|"
    r"a\s+different|a\s+competitor|your\s+competitor)"
    r"|(?:seek|seeking|sought|get|getting|got|take|taking|took)\s+legal\s+advice"
    rf"|(?:got|hired|instructed|engaged|retained)\s+(?:a|an|my)\s+{_LAWYER})"
)
ESCALATION = _any(
    rf"{_THREAT_SUBJECT}{_THREAT_ACTION}",
    r"\bor\s+(?:else\s+)?(?:i(?:'ll|\s+will)?\s+)?(?:file|do|open|request)\s+a\s+charge[\s-]?back",
    r"\bsee\s+you\s+in\s+court\b",
    r"\b(?:see|read|hear\s+about)\s+(?:this|it|me|us)\s+(?:on|in)\s+the\s+(?:news|papers|press)\b",
    r"\b(?:take|taking|took|move|moving|moved)\s+(?:my|our)\s+(?:business|money|custom|savings|"
    r"salary|accounts?|mortgage|pension|funds)\s+elsewhere\b",
    rf"\b(?:hear|hearing|heard|call|letter|visit|email|word)\s+from\s+(?:my|our)\s+{_LAWYER}",
    rf"\b(?:my|our)\s+{_LAWYER}\s+(?:will|'ll|is\s+going\s+to|shall|has\s+been|is\s+now|"
    r"is\s+(?:involved|aware|handling|looking|dealing)|will\s+be|knows)",
    r"\breport(?:ing|ed)?\s+you\b(?!r)",
    r"\breport(?:ing|ed)?\s+(?:your|this)\s+(?:company|bank|business|firm|shop|store)\b",
    r"\bsu(?:e|ing)\s+(?:you\b(?!r)|your\s+(?:company|firm|bank|business|shop|store)|"
    r"(?:the|this)\s+(?:company|bank|business))",
    r"\byou(?:'ve|\s+have)\s+(?:just\s+)?lost\s+(?:a|my|me\s+as\s+a|yourself\s+a)\s+(?:customer|"
    r"client|business)",
    r"\bnever\s+(?:use|buy\s+from|shop\s+with|shop\s+at|bank\s+with|order\s+from|deal\s+with)\s+"
    r"(?:you|your\s+\w+|this\s+\w+)\s+again\b",
    r"\b(?:one|1|zero|0)[\s-]stars?\b",
    r"\b(?:bad|negative|terrible|awful|scathing|poor|horrible|damning)\s+reviews?\b",
)

_THIRD_PARTY = (
    r"(?:landlords?|landlady|letting\s+agents?|neighbou?rs?|employers?|boss|doctors?|gp|dentists?|"
    r"hospitals?|nurses?|schools?|teachers?|council|police|tenants?|contractors?|builders?|"
    r"colleagues?|co-?workers?|sellers?|debt\s+collectors?|servicers?|airlines?|union|"
    r"university|hoa|ex|partner|husband|wife|spouse|child|son|daughter|kids?|parents?|lawyers?|"
    r"attorneys?|solicitors?|judge|court|cfpb|ombudsman|regulator)"
)
COMPLAINT = _any(
    # not "my complaint was resolved", nor a complaint about a third party
    r"\bcomplain(?:t|ts|ing|ed|s)?\b"
    r"(?!\s+(?:was|has\s+been|is|got)\s+(?:now\s+)?(?:resolved|sorted|closed|fixed|dealt\s+with|"
    r"handled|settled|withdrawn))"
    r"(?!(?:\s+\w+)?\s+(?:against|about|to|with|regarding|over)\s+"
    rf"(?:my|a|an|the|our|his|her|their)\s+(?:\w+\s+)?{_THIRD_PARTY}\b)",
    r"\b(?:unacceptable|not\s+acceptable|disgust(?:ed|ing)|disgrace(?:ful)?|appall?(?:ed|ing)|"
    r"outrage(?:d|ous)?|ridiculous|ludicrous|absurd|pathetic|shambles|shambolic|scandal(?:ous)?|"
    r"incompeten(?:t|ce)|shock(?:ed|ing|ingly)|rip[\s-]?off|ripped\s+(?:me\s+)?off|"
    r"daylight\s+robbery|dissatisfied|rude|unprofessional|disrespectful|condescending|unhappy|"
    r"grievance|beyond\s+a\s+joke|"
    r"not\s+(?:at\s+all\s+)?impressed|"
    r"no(?:body|\s+one)\s+(?:seems\s+to\s+|even\s+|ever\s+)?(?:cares?|seems\s+bothered|bothered)|"
    r"how\s+dare\s+you|shame\s+on\s+you|not\s+good\s+enough|not\s+(?:at\s+all\s+)?(?:happy|"
    r"satisfied|pleased))\b",
    r"\b(?:is|was|are|were|'s|what)\s+(?:a|an)\s+(?:complete\s+|total\s+|absolute\s+|bad\s+|"
    r"sick\s+|actual\s+|utter\s+)?(?:joke|farce|nightmare|mess|disaster|shambles|disgrace)\b",
    r"\b(?:poor|bad|terrible|awful|horrible|horrendous|dreadful|lousy|abysmal|atrocious|worst|"
    r"rubbish|crap|crappy|shoddy)\s+(?:customer\s+)?(?:service|support|experience|treatment|"
    r"communication|company)\b",
    r"\bstill\s+(?:not|isn't|is\s+not|hasn't|has\s+not|haven't|have\s+not|wasn't|been\s+not)\s+"
    r"(?:been\s+)?(?:fixed|resolved|sorted|solved|working|repaired|refunded|corrected|addressed|"
    r"dealt\s+with)\b",
    r"\b(?:(?:very|really|so|extremely|deeply|bitterly|hugely|most)\s+dis+ap+ointed|"
    r"dis+ap+oint(?:ed|ing)\s+(?:with|in|by|at)\s+(?:you|your|how|"
    r"the\s+(?:service|way|response|support|company|bank|app)|this\s+(?:service|company|bank))|"
    r"dis+ap+ointing\s+(?:service|support|experience|response))\b",
    r"\b(?:this|that|it)(?:'s\s+not|\s+is\s+not|\s+isn't|\s+is\s+just\s+not|\s+is\s+simply\s+not|"
    r"'s\s+just\s+not)\s+(?:ok|okay|on|fair|right|good|acceptable)\b",
    r"\b(?:made|making)\s+(?:a\s+)?(?:complete\s+|total\s+|right\s+|real\s+|huge\s+)?(?:mess|"
    r"hash)\s+of\b",
    r"\b(?:this\s+is|is\s+this)\s+how\s+you\s+treat\b|\bhow\s+you\s+treat\s+(?:your\s+)?"
    r"(?:loyal\s+)?(?:customers|me|people|clients)\b",
    r"\b(?:absolutely|totally|utterly|completely|truly|just|frankly|simply)\s+(?:dreadful|awful|"
    r"terrible|horrendous|atrocious|abysmal|appalling|disgusting|diabolical|rubbish|useless|"
    r"shocking|ridiculous|unacceptable|pathetic|embarrassing|disastrous)\b",
    r"\b(?:service|support|experience|treatment|response|staff|branch|app)\s+(?:[a-z']+\s+){0,6}?"
    r"(?:was|is|has\s+been|have\s+been|were|are)\s+(?:\w+\s+)?(?:dreadful|awful|terrible|appalling|"
    r"horrible|poor|rubbish|abysmal|shocking|disgraceful|useless|atrocious|diabolical)\b",
    r"\bstill\s+(?:doesn't|does\s+not|don't|do\s+not|won't|will\s+not|can't|cannot)\s+work\b",
    r"\bstill\s+broken\b",
    r"\bstill\s+(?:isn't|hasn't|is\s+not|has\s+not|doesn't|won't|isnt|hasnt)\b(?=\s*(?:[.!,;]|$))",
    r"\bnothing\s+(?:has\s+been|was|is\s+being|gets|got)\s+(?:done|fixed|resolved)\b",
)

_CONTACT_VERB = (
    r"(?:called|rang|phoned|emailed|e-mailed|mailed|written|wrote|messaged|texted|contacted|"
    r"chatted|asked|reached\s+out|complained|been\s+in\s+touch|tried\s+to\s+(?:call|contact|reach|"
    r"get\s+through)|followed\s+up|chased|spoken|spoke|talked|raised|reported|explained)"
)
_COUNT = (
    r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|several|many|multiple|countless|"
    r"numerous|a\s+few|a\s+dozen|so\s+many|too\s+many|a\s+hundred|like\s+\d+|like\s+a\s+\w+)"
)
_NTH = (
    r"(?:second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|seventh|eighth|ninth|tenth|"
    r"\d+(?:st|nd|rd|th)|umpteenth|nth|hundredth|millionth|fifteenth|twentieth)"
)
REPEATED_CONTACT = _any(
    rf"\b{_CONTACT_VERB}\b[^.!?\n]{{0,40}}?\b(?:{_COUNT}\s+times|twice)\b",
    rf"\b(?:this\s+is|it's|its|it\s+is|that's|for)\s+(?:the|my|our)\s+{_NTH}\s+(?:time|e-?mails?|"
    r"messages?|calls?|letters?|attempts?|requests?|chats?|complaints?|tickets?)\b",
    r"\b(?:asking|writing|emailing|calling|contacting|messaging|chasing|following\s+up|"
    r"reaching\s+out|complaining)\s+(?:you\s+|this\s+|about\s+this\s+|on\s+this\s+)?(?:yet\s+)?"
    r"again\b",
    r"\b(?:have|had|need|having|must)\s+to\s+(?:explain|repeat|tell|go\s+through|start)\b"
    r"[^.!?\n]{0,40}?\bagain\b",
    r"\byet\s+again\b|\bagain\s+and\s+again\b|\bover\s+and\s+over\b",
    r"\b(?:i|we)(?:'ve|\s+have|\s+had|'d)?\s+already\s+(?:told|explained|sent|asked|called|"
    r"contacted|emailed|given|provided|submitted|reported|raised|spoken|spoke|written|wrote|been)",
    r"\btold\s+(?:the\s+|your\s+)?(?:last|previous|other|first)\s+(?:person|agent|guy|lady|rep|"
    r"one)",
    r"\bstill\s+(?:waiting|no\s+(?:reply|response|answer|word|news|update|refund|sign|call)|"
    r"nothing|haven't\s+(?:heard|had|got|received)|have\s+not\s+(?:heard|had|got|received)|"
    r"not\s+heard|hasn't\s+(?:heard|replied|called)|no\s+one|nobody)\b",
    r"\bbeen\s+waiting\s+(?:for\s+)?(?:over\s+|more\s+than\s+|almost\s+|nearly\s+)?(?:(?:\d+|a|an|"
    r"two|three|four|five|six|several|many|a\s+few)\s+(?:\w+\s+)?(?:days?|weeks?|months?|years?)|"
    r"ages|forever|weeks|days|months)\b",
    r"\b(?:no(?:body|\s+one)|never)\s+(?:has\s+|have\s+|ever\s+|even\s+)?(?:got|gets|get|gotten|"
    r"came|comes|come)\s+back\s+to\s+(?:me|us)\b",
    r"\bno(?:body|\s+one)\s+(?:has\s+|have\s+|ever\s+|even\s+)?(?:replied|responded|answered|"
    r"called\s+(?:me\s+)?back|contacted\s+me|replies|responds|answers|bothered|reply|respond|"
    r"answer|calls\s+(?:me\s+)?back)\b",
    r"\b(?:haven't|have\s+not|never|didn't|did\s+not|hasn't)\s+(?:\w+\s+)?(?:heard\s+back|"
    r"heard\s+anything|had\s+(?:a|any)\s+(?:reply|response|answer)|got(?:ten)?\s+(?:a\s+|any\s+)?"
    r"(?:reply|response|answer|call\s+back))",
    r"\bno\s+(?:reply|response|answer|word|update|news)\s+(?:since|for|yet|from|after|in)\b",
    r"\b(?:got|had|received|getting|receiving)\s+(?:no|zero)\s+(?:reply|replies|response|"
    r"responses|answer|call\s*back|update|feedback)\b",
    r"\bignor(?:ed|ing)\s+(?:me|us|my\s+(?:e-?mails?|messages?|calls?|letters?|complaints?))",
    r"\b(?:keep|keeps|kept|always|only\s+ever)\s+(?:being\s+)?(?:getting|get|got|receiving|sending|"
    r"giving|saying|sends|gives|says|sent|given|told)\s+(?:me\s+)?(?:the\s+)?same\b",
    r"\bbeen\s+trying\s+to\s+(?:get\s+through|reach|contact|get\s+hold\s+of|call|ring)\b",
    rf"(?:^|[.!?]\s*){_NTH}\s+(?:time|e-?mail|message|call|letter|attempt|request|chat|"
    r"complaint)\b",
    r"\b(?:told|promised|assured)\s+(?:me\s+|us\s+)?(?:that\s+)?(?:the\s+\w+|it|this)\s+would\s+"
    r"be\s+"
    r"(?:fixed|sorted|resolved|done|refunded|back)\b",
    r"\b(?:going|go|went)\s+(?:round|around)\s+in\s+circles\b",
    rf"\b{_NTH}\s+(?:time|e-?mail|message|call|letter|attempt|request)\s+(?:(?:i'm|i\s+am|i've|"
    r"i\s+have|that\s+i'm|that\s+i've)\s+)?(?:writing|asking|calling|emailing|contacting|"
    r"messaging|chasing|reaching|sending|sent|written|asked|called)\b",
    r"\bgoing\s+on\s+(?:for\s+)?(?:months|weeks|ages|days|far\s+too\s+long|too\s+long|"
    r"(?:\d+|two|three|four|several|many)\s+(?:days|weeks|months))\b",
    r"\bon\s+hold\s+for\b",
    r"\b(?:no(?:body|\s+one)|never)\s+(?:ever\s+)?(?:did|has|have)\b(?=\s*(?:[.!,;]|$))",
    r"\b(?:told|promised|assured)\s+(?:me\s+|us\s+)?(?:that\s+)?(?:someone|somebody|you|they|he|"
    r"she|an?\s+\w+)\s+would\s+(?:call|ring|phone|get\s+back|contact|email|reply|respond|fix|sort)",
    r"\bpromised\s+(?:me\s+|us\s+)?(?:a\s+)?(?:call|callback|call\s+back|reply|refund|response|"
    r"update|replacement)\b",
    r"\b(?:days|weeks|months|a\s+week|a\s+month|ages)\s+since\s+(?:i|"
    r"we)\s+(?:first\s+)?(?:reported|"
    r"contacted|called|rang|emailed|wrote|asked|raised|complained|messaged|sent)\b",
    rf"\b(?:sent|written|wrote|left)\s+(?:you\s+)?(?:{_COUNT}|two|three)\s+(?:e-?mails|messages|"
    r"letters|texts|voicemails|complaints)\b",
    r"\bhow\s+many\s+more\s+times\b|\bhow\s+many\s+times\s+(?:do|must|should|will|have)\s+(?:i|"
    r"we)\s+(?:have\s+to\s+)?(?:ask|tell|call|explain|write|email|contact|repeat|chase)\b",
    r"\bchas(?:ing|ed|e)\s+(?:this|it|you|my|the|up|for|them|your)\b",
    r"\b(?:same|this)\s+(?:problem|issue|thing|error|fault)\s+(?:again|yet\s+again|as\s+before|"
    r"keeps)\b",
    r"\b(?:reported|raised|logged|mentioned|flagged)\s+(?:it|this|that)\s+(?:already|before|last|"
    r"yesterday|weeks?|days?|on|\d)",
    r"\bevery\s+time\s+(?:i|we)\s+(?:call|contact|ring|phone|write|email|message|chat|ask)\b",
    r"\bheard\s+nothing\b|\bnothing\s+back\b",
    r"\b(?:asked|wrote|emailed|called|contacted|messaged|reported|raised|complained)\b"
    r"[^.!?\n]{0,40}?\b(?:\d+|two|three|four|five|six|several|a\s+few|many)\s+(?:days|weeks|"
    r"months)\s+ago\b",
)

FRUSTRATION = _any(
    r"\bfed\s+up\b|\bsick\s+(?:and\s+tired\s+)?of\b|\bsick\s+and\s+tired\b|\bhad\s+enough\b",
    r"\bwits'?\s+end\b",
    r"\b(?:losing|lost|run\s+out\s+of|running\s+out\s+of)\s+(?:my\s+)?(?:patience|mind|temper)\b",
    r"\bdriving\s+me\s+(?:crazy|mad|nuts|insane|up\s+the\s+wall|round\s+the\s+bend)\b",
    r"\b(?:livid|fuming|seething|infuriat(?:ed|ing)|exasperat(?:ed|ing)|enraged)\b",
    r"\b(?:absolutely|totally|completely|utterly|so|really|very|beyond|extremely)\s+"
    r"(?:furious|frustrated|angry|annoyed|pissed|upset)\b",
    r"\bi\s+(?:hate|despise|loathe)\s+(?:this|you|your|it)\b",
    r"\bcan(?:'t|not)\s+(?:take|stand|cope\s+with)\s+(?:this|it|any\s*more)\b",
    r"\bend\s+of\s+my\s+tether\b",
)

EXASPERATION = _any(
    r"\b(?:are|r)\s+(?:you|u)\s+(?:kidding|serious|joking)\b|\byou\s+(?:must|have\s+got\s+to|"
    r"'ve\s+got\s+to)\s+be\s+(?:kidding|joking)\b",
    r"\b(?:unbelievable|stressful|stressed|shaking|in\s+tears|crying|could\s+cry|could\s+scream|"
    r"useless|hopeless|worthless)\b",
    r"\bnothing\s+(?:is\s+)?(?:works|working|ever\s+works)\b",
)

# Words that judge rather than name a subject: in a question they are the customer's mood
# ("Why does this stupid bank keep ...?"), where "cancer", "unfair" or "violence" are what the
# question is about. Only used to tell a subject question from an angry one.
MOOD_WORDS = _any(
    r"\b(?:terrible|horrible|horrendous|awful|dreadful|atrocious|appalling|abysmal|lousy|"
    r"stupid|idiotic|dumb|useless|worthless|hopeless|pathetic|ridiculous|incompetent|"
    r"worst|garbage|trash|rubbish|crap|crappy|sucks?|damn|damned|hell|bloody|joke)\b",
)


__all__ = [
    "COMPLAINT",
    "ESCALATION",
    "EXASPERATION",
    "FRUSTRATION",
    "MOOD_WORDS",
    "PERSON_REQUEST",
    "REPEATED_CONTACT",
]

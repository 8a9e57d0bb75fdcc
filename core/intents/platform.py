"""The platform intents every deployment has, and out-of-scope examples for calibration.

Packs (support-basics) may declare the same ``platform:<intent>`` labels with more examples;
``examples_from_manifests`` merges both. The out-of-scope sentences are never a trained class:
they calibrate the confidence threshold below which a message is ``out_of_scope``.
"""

from __future__ import annotations

from core.packs.manifest import Intent

PLATFORM_INTENTS: tuple[Intent, ...] = (
    Intent(
        name="greeting",
        platform=True,
        description="The customer says hello.",
        examples=[
            "hi", "hello", "hello there", "hey", "good morning", "good afternoon",
            "good evening", "hi, is anyone there?", "hey there, how are you?",
            "hello, I have a question", "hiya", "greetings",
        ],
    ),
    Intent(
        name="thanks",
        platform=True,
        description="The customer thanks the assistant.",
        examples=[
            "thanks", "thank you", "thank you so much", "thanks a lot, that helped",
            "great, thanks", "cheers", "much appreciated", "thanks for your help",
            "that was helpful, thank you", "ok thanks", "many thanks", "perfect, thank you",
        ],
    ),
    Intent(
        name="goodbye",
        platform=True,
        description="The customer ends the conversation.",
        examples=[
            "bye", "goodbye", "see you", "that's all, bye", "have a nice day",
            "talk to you later", "bye for now", "I'm done, goodbye", "see you later",
            "ok, bye", "take care", "that is everything, have a good one",
        ],
    ),
    Intent(
        name="human_agent",
        platform=True,
        description="The customer wants to talk to a person.",
        examples=[
            "I want to talk to a human", "can I speak to an agent?", "connect me to a person",
            "let me talk to customer service", "I need a real person", "transfer me to an agent",
            "is there a human I can talk to?", "get me a representative",
            "I'd like to speak with someone", "operator please", "put me through to support staff",
            "can a human help me?",
        ],
    ),
    Intent(
        name="complaint",
        platform=True,
        description="The customer complains about the service.",
        examples=[
            "I want to file a complaint", "this service is terrible", "I'm very unhappy with you",
            "I want to complain about how I was treated", "your support is useless",
            "I'm not satisfied at all", "this is unacceptable", "how do I lodge a complaint?",
            "I'm really disappointed with your service", "I have a complaint",
            "you people never fix anything", "I want to report bad service",
        ],
    ),
)

# Messages no pack and no platform intent covers: calibration data for the out-of-scope threshold.
OUT_OF_SCOPE_EXAMPLES: tuple[str, ...] = (
    "what's the weather like tomorrow", "who won the football game last night",
    "tell me a joke", "what is the capital of australia", "how do I bake sourdough bread",
    "recommend a good movie", "play some music", "what time is it in tokyo",
    "how tall is mount everest", "translate hello into french", "what is 17 times 23",
    "set an alarm for 7am", "how do I change a car tire", "who painted the mona lisa",
    "what's a good name for a cat", "how many calories in an apple", "write me a poem",
    "when is the next full moon", "how do I learn to play guitar", "what should I cook tonight",
    "asdf qwerty zxcv", "lorem ipsum dolor sit amet", "blorp fizzle wug", "xkcd 927 jjj",
    "how far away is the moon", "which planet is the largest", "book a table for two",
    "what's the best video game", "how do I grow tomatoes", "teach me chess openings",
)

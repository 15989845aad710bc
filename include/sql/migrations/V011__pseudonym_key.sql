-- Which pseudonymisation key the stored pseudonyms were made with: a fingerprint (an HMAC of a fixed
-- text under the key; it reveals nothing of the key). A load with another key is refused, so one
-- person never gets two pseudonyms; `python -m campus_logistics pseudonym rotate` changes both the
-- pseudonyms and this fingerprint in one transaction.
CREATE TABLE quality.pseudonym_key (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    fingerprint  text NOT NULL
);
